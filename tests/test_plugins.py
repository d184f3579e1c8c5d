"""Third-party components through entry points: a package outside genbench registers an adapter and a metric,
is installed with pip, and a suite uses both through the real command line. Plus the registry's rules: a name is
registered once, and an entry must be a subclass of its registry's base."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
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

        [project.entry-points."genbench.datasets"]
        demo-ramp = "genbench_plugin_demo:RampKind"
        """,
    "genbench_plugin_demo/__init__.py": """\
        import numpy as np
        import torch

        from bench.adapters import Adapter, AdapterArgs, GenerationRequest
        from bench.data import Dataset, DatasetArgs, DatasetKind
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


        class RampArgs(DatasetArgs):
            n: int = 30


        class RampKind(DatasetKind):
            \"\"\"n grey 8x8 images of values 0, 8, 16, ...\"\"\"

            name = "demo-ramp"
            Args = RampArgs

            def load(self, name, args, resolve):
                values = torch.arange(args.n, dtype=torch.uint8) * 8
                return Dataset(name, f"demo-ramp:{args.n}", values.view(-1, 1, 1, 1).expand(-1, 1, 8, 8).contiguous())
        """,
}

SUITE = """\
name: plugin-demo
seed: 0
datasets:
  ramp: {kind: demo-ramp, n: 30}
models:
  grey: {adapter: demo-constant, args: {value: 100}}
tasks:
  - name: t
    reference: ramp
    n: 20
    batch_size: 8
    metrics:
      demo-feature-norm: {}
      fid: {}
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


@pytest.mark.slow  # minutes on 2 cores: the slow tier
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
    row, fid = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    import torch

    from bench.backbones.digits import DigitsBackbone
    from bench.metrics.frechet import frechet_distance, gaussian_stats

    b = DigitsBackbone()
    feats = b.extract(torch.full((20, 1, 8, 8), 100, dtype=torch.uint8))["pool"].astype(np.float64)
    assert row["metric"] == "feature_norm" and row["model"] == "grey" and row["n"] == 20
    assert row["value"] == pytest.approx(float(np.linalg.norm(feats, axis=1).mean()), rel=1e-6)
    # the per-sample channel: one norm per sample, in the one per-sample file format
    per = json.loads((run / row["extras"]["per_sample_file"]).read_text())
    assert per["feature_norm"] == pytest.approx(np.linalg.norm(feats, axis=1).tolist(), rel=1e-6)
    # the plugin dataset kind is the reference: FID against its 30 ramp images
    ramp = (torch.arange(30, dtype=torch.uint8) * 8).view(-1, 1, 1, 1).expand(-1, 1, 8, 8).contiguous()
    g, r = gaussian_stats(b.extract(torch.full((20, 1, 8, 8), 100, dtype=torch.uint8))["pool"]), gaussian_stats(b.extract(ramp)["pool"])
    assert fid["metric"] == "fid" and fid["dataset"] == "ramp" and fid["protocol"]["reference"] == "demo-ramp:30"
    assert fid["value"] == pytest.approx(frechet_distance(g.mu, g.sigma, r.mu, r.sigma).value, rel=1e-6)
    ls_d = _genbench(["ls", "datasets"], plugin_site, tmp_path)
    assert "demo-ramp" in ls_d.stdout and "plugin genbench-plugin-demo" in ls_d.stdout
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
    from bench.data import DATASETS
    from bench.metrics import METRICS
    from bench.tasks import TASKS

    for reg in (ADAPTERS, METRICS, BACKBONES, TASKS, DATASETS):
        assert reg.base is not None and reg.group is not None and reg.group.startswith("genbench.")
        for name in reg.names():
            assert issubclass(reg.get(name), reg.base), (reg.kind, name)


def test_renamed_components_keep_their_old_names_with_a_warning(write_suite, tmp_path: Path, capsys) -> None:
    """Old spellings (metric `recall`, adapter `translator-python`, ...) still run, warn once naming the new name
    and the suite line, and give exactly the numbers of the new name."""
    from bench.metrics import METRICS
    from tests.conftest import run_cli

    assert METRICS.aliases()["recall"] == "retrieval_recall" and ADAPTERS.aliases()["translation-zoo"] == "zoo-translator"
    assert "recall" in METRICS and "recall" not in METRICS.names()  # listed under its current name only
    rows = {}
    for name in ("recall", "retrieval_recall"):
        suite = write_suite(f"""
datasets: {{shapes: {{kind: shapes, split: test}}}}
models: {{rand: {{adapter: random-retriever}}}}
tasks:
  - {{name: r, kind: retrieval, reference: shapes, n: 40, metrics: [{name}]}}
""", name=f"{name}.yaml")
        METRICS._warned.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / name), "--quiet"], capsys)
        assert code == 0, err
        msgs = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
        if name == "recall":
            assert msgs == [f"{suite}:5: tasks.0.metrics.recall: metric 'recall' is deprecated: it is now called "
                            "'retrieval_recall' (the old name still works)"]
        else:
            assert msgs == []
        (run,) = (tmp_path / name / name).iterdir()  # the suite is named after its file
        rows[name] = {r["metric"]: r["value"] for r in (json.loads(x) for x in (run / "rows.jsonl").read_text().splitlines())}
    assert rows["recall"] == rows["retrieval_recall"] and "rsum" in rows["recall"]


def test_the_documented_public_api_imports() -> None:
    """Every name docs/plugins.md promises as stable public API is importable from the module it names."""
    import importlib
    import re

    text = (ROOT / "docs/plugins.md").read_text(encoding="utf-8").split("## The stable public API", 1)[1]
    promised = re.findall(r"^- `(bench[.\w]*)`: (.*?)(?=^- |\Z)", text, flags=re.M | re.S)
    assert {m for m, _ in promised} == {"bench.adapters", "bench.metrics", "bench.backbones", "bench.tasks", "bench.data"}
    for module, names in promised:
        mod = importlib.import_module(module)
        for name in re.findall(r"`(\w+)`", names):
            assert hasattr(mod, name), f"{module}.{name} is documented but missing"
            if hasattr(mod, "__all__"):
                assert name in mod.__all__, f"{module}.{name} is documented but not in __all__"
