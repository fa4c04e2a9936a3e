"""Paired recordings of an effect for training: discovery, checks, alignment and crops.

* :mod:`ddsp_kit.data.pairs`: find (input, target, knobs) pairs in a plain
  folder, a ToneTwist AFx folder or a SignalTrain LA-2A folder.
* :mod:`ddsp_kit.data.dataset`: :class:`PairedAudioDataset`, checked crops
  split by time or by file.
* :mod:`ddsp_kit.data.alignment`: constant lag and polarity of a target.
"""

from .alignment import check_polarity, estimate_lag
from .dataset import SPLITS, PairedAudioDataset
from .pairs import Pair, plain_pairs, signaltrain_pairs, tonetwist_pairs

__all__ = [
    "Pair",
    "plain_pairs",
    "tonetwist_pairs",
    "signaltrain_pairs",
    "PairedAudioDataset",
    "SPLITS",
    "estimate_lag",
    "check_polarity",
]
