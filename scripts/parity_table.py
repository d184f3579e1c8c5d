"""Write docs/parity.md: genbench vs the reference tools, per protocol, on random-init weights (offline).

    .venv/bin/python scripts/parity_table.py [--out docs/parity.md] [--n 12]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from bench.parity import parity_rows

#: everything after this line in the output file is prose kept as it is (conventions, tolerances, other protocols)
HAND_WRITTEN = "<!-- hand-written below: kept by scripts/parity_table.py -->"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/parity.md")
    ap.add_argument("--n", type=int, default=12, help="images per folder")
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        rows = parity_rows(Path(d), n=args.n)
    lines = [
        "# Parity with the reference tools",
        "",
        "Random-init Inception weights (seed 0, written as a torch-fidelity `.pth` and a clean-fid TorchScript `.pt`),",
        f"two folders of {args.n} RGB 32x32 PNGs, genbench and each tool reading the same files and the same weights.",
        "Regenerate: `.venv/bin/python scripts/parity_table.py`. Test: `.venv/bin/python -m pytest tests/test_parity_inception.py -m slow`.",
        "",
        "| protocol | anchor | metric | genbench | anchor value | abs diff | rel diff |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r.protocol} | {r.anchor} | {r.metric} | {r.ours:.10g} | {r.theirs:.10g} | "
                     f"{abs(r.ours - r.theirs):.3g} | {r.rel_diff:.3g} |")
    lines += [
        "",
        "Notes: the TorchScript file here is genbench's random stand-in with the interface clean-fid calls; its internal",
        "resize (legacy-tf) is torch bilinear, not the NVIDIA file's TF1 emulation, so legacy-tf parity checks the pipeline,",
        "not that resize. A 32->299 resize is an upsample, where antialias=True changes nothing: tm-antialias differs from",
        "tf-compat here by the TF1 vs align_corners=False bilinear only. PR uses Inception pool features on both sides",
        "(torch-fidelity called with feature_extractor='inception-v3-compat'; its default PRC network is VGG16: see",
        "`prc_vgg16` below).",
    ]
    out = Path(args.out)
    kept = out.read_text().split(HAND_WRITTEN, 1)[1] if out.is_file() and HAND_WRITTEN in out.read_text() else "\n"
    lines += ["", HAND_WRITTEN]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + kept)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
