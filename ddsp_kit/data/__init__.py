"""Paired recordings of an effect for training: discovery, checks, alignment and crops.

* :mod:`ddsp_kit.data.pairs`: find (input, target, knobs) pairs in a plain
  folder, a ToneTwist AFx folder or a SignalTrain LA-2A folder.
* :mod:`ddsp_kit.data.dataset`: :class:`PairedAudioDataset`, checked crops
  split by time or by file.
* :mod:`ddsp_kit.data.alignment`: constant lag and polarity of a target.
* :mod:`ddsp_kit.data.quality`: the data-quality report to read before training.
* :mod:`ddsp_kit.data.synthetic`: a built-in pair (synthetic music through a
  reference effect written with scipy) for runs without a download.
"""

from .alignment import check_polarity, estimate_lag
from .dataset import SPLITS, PairedAudioDataset
from .pairs import Pair, plain_pairs, signaltrain_pairs, tonetwist_pairs
from .quality import format_report, quality_report, signal_quality
from .synthetic import SYNTHETIC_DEVICES, cache_dir, render_synthetic, synthetic_music

__all__ = [
    "Pair",
    "plain_pairs",
    "tonetwist_pairs",
    "signaltrain_pairs",
    "PairedAudioDataset",
    "SPLITS",
    "estimate_lag",
    "check_polarity",
    "format_report",
    "quality_report",
    "signal_quality",
    "synthetic_music",
    "SYNTHETIC_DEVICES",
    "render_synthetic",
    "cache_dir",
]
