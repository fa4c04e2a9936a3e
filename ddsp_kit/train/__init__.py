r"""Training with Lightning: the module, the datamodule and logging callbacks.

* :class:`EffectModule`: fits any processor to paired audio with a
  :class:`~ddsp_kit.losses.CompositeLoss` and Adam; logs loss terms and
  :func:`ddsp_kit.metrics.evaluate` values; ``export`` writes a model file.
* :class:`PairedDataModule`: train/validation/test
  :class:`~ddsp_kit.data.PairedAudioDataset` splits from a folder layout;
  :class:`SyntheticDataModule`: the built-in synthetic pair.
* :class:`AudioExamples`, :class:`ResponsePlots`: TensorBoard audio clips and figures.

Needs ``lightning`` (and ``tensorboard`` for the TensorBoard logger).
"""

from .callbacks import LINEAR_BLOCKS, AudioExamples, PredictionWriter, ResponsePlots, linear_blocks
from .datamodule import LAYOUTS, EpochSampler, PairedDataModule, SyntheticDataModule
from .module import DEFAULT_LOSS, SCHEDULERS, EffectModule

__all__ = [
    "EffectModule",
    "DEFAULT_LOSS",
    "SCHEDULERS",
    "PairedDataModule",
    "SyntheticDataModule",
    "EpochSampler",
    "LAYOUTS",
    "AudioExamples",
    "ResponsePlots",
    "PredictionWriter",
    "LINEAR_BLOCKS",
    "linear_blocks",
]
