"""Task kinds: how one model is evaluated on one dataset (generation, translation, captioning, ...).

A task kind owns the loop between an adapter and its metrics: what to ask the model for, which features to
extract, which rows to produce. The runner owns everything shared: datasets, the feature store, seeds, errors,
resume and the run folder. A new kind registers here and plugs into suites, ``validate`` and ``run`` unchanged.
"""

from bench.tasks.base import TASKS, TaskKind, TaskPlan

TASKS.register("generation", "bench.tasks.generation:GenerationTask")
TASKS.register("perf", "bench.tasks.perf:PerfTask")
TASKS.register("translation", "bench.tasks.translation:TranslationTask")
TASKS.register("retrieval", "bench.tasks.vl:RetrievalTask")
TASKS.register("captioning", "bench.tasks.vl:CaptioningTask")
TASKS.register("text-to-image", "bench.tasks.vl:TextToImageTask")

__all__ = ["TASKS", "TaskKind", "TaskPlan"]
