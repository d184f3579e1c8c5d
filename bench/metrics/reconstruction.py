"""Autoencoder and tokenizer metrics: reconstruction FID, codebook health, bits per dimension.

PSNR, SSIM and LPIPS of reconstructions are the paired metrics of bench.metrics.translation (``psnr``, ``ssim``,
``lpips``: outputs against the aligned ``truth``, here the autoencoder's own inputs). The ones here:

- ``rfid``: the Fréchet distance (bench.metrics.distribution.FID, the same code as ``fid``) between backbone
  features of the reconstructions and of the very images that were encoded, after the same preprocessing: not
  the whole dataset, nor another split (rFID against other images mixes reconstruction error with sampling error:
  a perfect autoencoder would not score 0). Its rows carry the backbone's protocol record like every FID row.
- ``codebook``: ``codebook_usage``, ``code_entropy`` (bits) and ``codebook_perplexity`` of a discrete model's
  codes over all inputs (bench.metrics.codes); unavailable, with the reason, for a continuous model.
- ``bits_per_dim``: the model's negative log-likelihood bound per dimension, in bits (a VAE: minus its ELBO);
  unavailable for a model that reports no likelihood.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet
from bench.metrics.codes import bits_per_dim, codebook_stats
from bench.metrics.distribution import FID, FIDOpts


class RFID(FID):
    name = "rfid"
    description = ("reconstruction FID: Fréchet distance between features of the reconstructions and of the same "
                   "inputs, same preprocessing")
    outputs = {"rfid": OutputInfo(higher_is_better=False, description=description)}
    Opts = FIDOpts
    #: only where the reference is the encoded images themselves: elsewhere this would be FID under another name
    requires = frozenset({"features", "reference.features", "reference.inputs"})
    reference_stats_ok = False  # the reference is the encoded images themselves, never a precomputed fit

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        (v,) = super().compute(samples, ref, seed=seed, state=state, sink=sink)
        v.metric = "rfid"
        if v.value is not None and v.value < 0:  # a distance: below 0 only by round-off (identical feature sets)
            v.extras["raw_value"], v.value = v.value, 0.0
        v.extras["reference"] = "the encoded inputs themselves (same images, same preprocessing)"
        return [v]


class Codebook(Metric):
    name = "codebook"
    description = "codebook health of a discrete autoencoder: share of codes used, code entropy, perplexity"
    outputs = {
        "codebook_usage": OutputInfo(higher_is_better=True, description="share of codebook entries used at least once, in (0, 1]"),
        "code_entropy": OutputInfo(higher_is_better=True, unit="bits", description="entropy of the code distribution over all positions"),
        "codebook_perplexity": OutputInfo(higher_is_better=True, description="2 ** code_entropy: equally used entries with that entropy"),
    }
    requires = frozenset({"codes"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        c = samples.codes
        if c is None:
            why = f"model '{samples.name}' has no discrete codes (a continuous autoencoder, or not an autoencoder)"
            return [MetricValue(k, None, extras={"reason": why}) for k in self.outputs]
        size = c.size if c.size is not None else int(np.max(c.indices)) + 1
        st = codebook_stats(c.indices, size)
        info = {"codebook_size": c.size, "used": st.used, "positions": st.positions,
                "codes_per_input": int(np.asarray(c.indices).reshape(len(c.indices), -1).shape[1])}
        usage = MetricValue("codebook_usage", st.usage, extras=info) if c.size is not None else \
            MetricValue("codebook_usage", None, extras={"reason": f"model '{samples.name}' does not say its codebook size "
                                                                  "(give codebook_size)", **info})
        return [usage, MetricValue("code_entropy", st.entropy_bits, extras={**info, "max_bits": float(np.log2(size))}),
                MetricValue("codebook_perplexity", st.perplexity, extras=info)]


class BitsPerDim(Metric):
    name = "bits_per_dim"
    description = "negative log-likelihood bound (a VAE: -ELBO) of the 8-bit inputs, bits per dimension"
    outputs = {"bits_per_dim": OutputInfo(higher_is_better=False, unit="bits/dim", description=description)}
    requires = frozenset({"likelihood"})
    Opts = Options

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        ll = samples.log_likelihood
        if ll is None:
            return [MetricValue("bits_per_dim", None,
                                extras={"reason": f"model '{samples.name}' reports no likelihood (no ELBO)"})]
        shape = samples.item_shape or (tuple(samples.truth.shape[1:]) if samples.truth is not None else None)
        if shape is None:
            return [MetricValue("bits_per_dim", None, extras={"reason": "the inputs' size is unknown"})]
        dims = int(np.prod(shape))
        per = bits_per_dim(-np.asarray(ll, dtype=np.float64), dims)
        if sink is not None:
            sink.per_sample("bits_per_dim", per)
        return [MetricValue("bits_per_dim", float(per.mean()), extras={"dims": dims, "n": len(per),
                                                                       "bound": "from the model's ELBO (an upper bound on the NLL)"})]
