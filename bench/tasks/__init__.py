"""Task kinds: how one model is evaluated on one dataset (generation, translation, captioning, ...).

A task kind says what it asks a model for (``produce``), what its reference is (``load_reference``) and which metric
inputs it ``provides``; the template in bench.tasks.base does the rest (batching, seeds, features, the metric loop,
rows, artifacts). The runner owns what runs share: datasets, the feature store, errors, resume and the run folder.
A new kind registers here (or through the ``genbench.tasks`` entry point) and plugs into suites, ``validate`` and
``run`` unchanged.
"""

from bench.tasks.base import TASKS, TaskKind, TaskPlan

TASKS.register("generation", "bench.tasks.generation:GenerationTask")
TASKS.register("perf", "bench.tasks.perf:PerfTask")
TASKS.register("translation", "bench.tasks.translation:TranslationTask")
TASKS.register("reconstruction", "bench.tasks.reconstruction:ReconstructionTask")
TASKS.register("retrieval", "bench.tasks.vl:RetrievalTask")
TASKS.register("captioning", "bench.tasks.vl:CaptioningTask")
TASKS.register("text-to-image", "bench.tasks.vl:TextToImageTask")
TASKS.register("dissection", "bench.tasks.dissection:DissectionTask")

__all__ = ["TASKS", "TaskKind", "TaskPlan"]
