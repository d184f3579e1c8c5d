"""Reference data: the embedded worlds and image sets given as folders, files, statistics or caption files.

Each dataset kind is a registered class with typed arguments (bench.data.base); suites name it as ``kind:``.
"""

from bench.data.base import DATASETS, Dataset, DatasetArgs, DatasetKind, FileDataset, dataset_kind

DATASETS.register("digits", "bench.data.datasets:DigitsKind")
DATASETS.register("shapes", "bench.data.datasets:ShapesKind")
DATASETS.register("folder", "bench.data.datasets:FolderKind")
DATASETS.register("npz", "bench.data.datasets:NpzKind")
DATASETS.register("torch-fidelity", "bench.data.datasets:TorchFidelityKind")
DATASETS.register("stats", "bench.refstats:StatsKind")
DATASETS.register("digits-edges", "bench.translation.data:DigitsEdgesKind")
DATASETS.register("digits-strokes", "bench.translation.data:DigitsStrokesKind")
DATASETS.register("paired-folder", "bench.translation.data:PairedFolderKind")
DATASETS.register("unpaired-folder", "bench.translation.data:UnpairedFolderKind")
DATASETS.register("coco-captions", "bench.data.captioned:CocoCaptionsKind")
DATASETS.register("karpathy", "bench.data.captioned:KarpathyKind")
DATASETS.register("geneval", "bench.data.geneval:GenEvalKind")

__all__ = ["DATASETS", "Dataset", "DatasetArgs", "DatasetKind", "FileDataset", "dataset_kind"]
