"""Third-party components through entry points: a package outside genbench registers an adapter and a metric,
is installed with pip, and a suite uses both through the real command line. Plus the registry's rules: a name is
registered once, and an entry must be a subclass of its registry's base."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from bench.adapters import ADAPTERS
from bench.adapters.base import Adapter

from bench.errors import ConfigError
from bench.registry import Registry
from tests.conftest import ROOT

PLUGIN = {
    "pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "genbench-plugin-demo"
        version = "0.1"

        [project.entry-points."genbench.adapters"]
        demo-constant = "genbench_plugin_demo:ConstantGenerator"

        [project.entry-points."genbench.metrics"]
        demo-feature-norm = "genbench_plugin_demo:FeatureNorm"
        """,
    "genbench_plugin_demo/__init__.py": """\
        import numpy as np
        import torch

        from bench.adapters import Adapter, AdapterArgs, GenerationRequest
        from bench.metrics import Metric, MetricValue, OutputInfo


        class ConstantArgs(AdapterArgs):
            value: int = 128


        class ConstantGenerator(Adapter):
            \"\"\"Every sample one grey 8x8 digit-sized image.\"\"\"

            Args = ConstantArgs

            def generate(self, request: GenerationRequest) -> torch.Tensor:
                return torch.full((request.n, 1, 8, 8), self.args.value, dtype=torch.uint8)


        class FeatureNorm(Metric):
            name = "demo-feature-norm"
            description = "mean L2 norm of the generated samples' features"
            outputs = {"feature_norm": OutputInfo(higher_is_better=False)}
            requires = frozenset({"features"})

            def compute(self, samples, ref, *, seed, state=None, sink=None):
                norms = np.linalg.norm(samples.x.astype(np.float64), axis=1)
                if sink is not None:
                    sink.per_sample("feature_norm", norms)
                return [MetricValue("feature_norm", float(norms.mean()))]
        """,
}

SUITE = """\
name: plugin-demo
seed: 0
datasets:
  digits-train: {kind: digits, split: train}
models:
  grey: {adapter: demo-constant, args: {value: 100}}
tasks:
  - name: t
    reference: digits-train
    n: 20
    batch_size: 8
    metrics:
      demo-feature-norm: {}
output: {grid: 0}
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin, pip-installed (no network, no build isolation) into its own folder."""
    src, site = tmp_path_factory.mktemp("plugin-src"), tmp_path_factory.mktemp("plugin-site")
    for rel, text in PLUGIN.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(textwrap.dedent(text))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(src)], check=True, capture_output=True)
    return site


def _genbench(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_an_installed_plugin_adapter_and_metric_run_in_a_suite(plugin_site: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    ls = _genbench(["ls", "adapters"], plugin_site, tmp_path)
    assert ls.returncode == 0 and "demo-constant" in ls.stdout and "plugin genbench-plugin-demo" in ls.stdout
    v = _genbench(["validate", str(suite)], plugin_site, tmp_path)
    assert v.returncode == 0, v.stderr
    r = _genbench(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], plugin_site, tmp_path)
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "r" / "plugin-demo").iterdir()
    (row,) = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    import torch

    from bench.backbones.digits import DigitsBackbone

    feats = DigitsBackbone().extract(torch.full((20, 1, 8, 8), 100, dtype=torch.uint8))["pool"].astype(np.float64)
    assert row["metric"] == "feature_norm" and row["model"] == "grey" and row["n"] == 20
    assert row["value"] == pytest.approx(float(np.linalg.norm(feats, axis=1).mean()), rel=1e-6)
    # without the plugin on the path, the names are unknown, with a clear line
    bare = subprocess.run([sys.executable, "-m", "bench", "validate", str(suite)], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert bare.returncode == 2 and "unknown adapter 'demo-constant'" in bare.stderr and "Traceback" not in bare.stderr


def test_a_name_is_registered_once() -> None:
    reg: Registry[type[Adapter]] = Registry("adapter", base=Adapter)
    reg.register("a", "bench.adapters.baselines:UniformNoise")
    reg.register("a", "bench.adapters.baselines:UniformNoise")  # the same entry again: harmless
    with pytest.raises(ConfigError, match="adapter 'a' is registered twice: bench.adapters.baselines:UniformNoise "
                                          r"\(genbench\) and bench.adapters.baselines:DatasetSampler \(genbench\)"):
        reg.register("a", "bench.adapters.baselines:DatasetSampler")
    with pytest.raises(ConfigError, match="registered twice"):
        ADAPTERS.register("noise", "somewhere.else:Noise")  # a built-in cannot be replaced


def test_an_entry_must_subclass_the_registry_base() -> None:
    reg: Registry[type[Adapter]] = Registry("adapter", base=Adapter)
    with pytest.raises(ConfigError, match="adapter 'x' .* is not a subclass of bench.adapters.base.Adapter"):
        reg.register("x", dict)
    reg.register("lazy", "bench.metrics.distribution:FID")  # checked when first used, so lazy entries stay lazy
    with pytest.raises(ConfigError, match="adapter 'lazy' .*FID.* is not a subclass"):
        reg.get("lazy")


def test_every_builtin_entry_subclasses_its_base() -> None:
    from bench.backbones import BACKBONES
    from bench.metrics import METRICS
    from bench.tasks import TASKS

    for reg in (ADAPTERS, METRICS, BACKBONES, TASKS):
        assert reg.base is not None and reg.group is not None and reg.group.startswith("genbench.")
        for name in reg.names():
            assert issubclass(reg.get(name), reg.base), (reg.kind, name)
