"""GAN Dissection (Bau et al., ICLR 2019) as a benchmark: which units of a generator's layer draw which concepts,
and what setting them does to the images and to the task's other numbers.

- :mod:`bench.dissection.hooks`: forward hooks that read a named layer and set its units to
  ``x·(1−a) + r·a`` (ablation ``r = 0``, insertion ``r`` high), per sample and per location;
- :mod:`bench.dissection.measures`: per-unit thresholds, unit × concept IoU, concept pixel fractions and the
  bootstrap of their relative change;
- :mod:`bench.dissection.segmenters`: the concept masks of generated images (the shapes segmenter);
- :mod:`bench.dissection.report`: the report's section (heat-map, ablation curves, before/after grids).

The task kind that runs it all is ``dissection`` (bench.tasks.dissection); docs/dissection.md says how every
number is computed.
"""
