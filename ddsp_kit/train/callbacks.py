r"""Lightning callbacks that log listenable and visual checks of a model in training.

Both work with :class:`~ddsp_kit.train.EffectModule`, whose validation step
returns the compared ``input``, ``prediction`` and ``target`` spans and the
model's ``params``. They write to every logger whose ``experiment`` has
``add_audio`` (audio) or ``add_figure`` (figures), such as TensorBoard's; other
loggers (CSV) are skipped without error. Nothing is logged during the
sanity check.
"""

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import lightning
import soundfile
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from .. import plot
from ..processors.base import Processor

__all__ = ["AudioExamples", "ResponsePlots", "PredictionWriter", "LINEAR_BLOCKS", "linear_blocks"]

logger = logging.getLogger(__name__)

# Linear, time-invariant blocks without a ``sections`` method whose frequency response is drawn.
LINEAR_BLOCKS = ("OnePole", "DCBlocker", "StateVariableFilter", "FIRFilter", "LPCFilter")


def _experiments(trainer: "lightning.Trainer", method: str) -> List[Any]:
    """The experiments of the trainer's loggers that have ``method``."""
    return [lg.experiment for lg in trainer.loggers if callable(getattr(lg.experiment, method, None))]


def _period(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def linear_blocks(model: Processor, names: Sequence[str] = LINEAR_BLOCKS) -> Dict[str, Processor]:
    """The linear blocks of ``model`` by module path: those with a ``sections`` method or a class name in ``names``.

    Args:
        model: any processor (chains are searched to any depth).
        names: class names of further linear blocks.

    Example:
        >>> from ddsp_kit.models.presets import overdrive
        >>> sorted(linear_blocks(overdrive(48000)))
        ['blocks.0', 'blocks.3']
    """
    return {
        path or type(module).__name__: module
        for path, module in model.named_modules()
        if isinstance(module, Processor) and (callable(getattr(module, "sections", None)) or type(module).__name__ in names)
    }


class AudioExamples(lightning.Callback):
    """Log the first few validation items (input, prediction, target) as audio clips.

    Args:
        count: items of the first validation batch to log.
        every_n_epochs: log at every n-th validation epoch.

    Clips are tagged ``audio/<item>/{input,prediction,target}`` (first channel).

    Example:
        >>> AudioExamples(count=2).count
        2
    """

    def __init__(self, count: int = 2, every_n_epochs: int = 1):
        self.count = _period("count", count)
        self.every_n_epochs = _period("every_n_epochs", every_n_epochs)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx != 0 or dataloader_idx != 0 or trainer.sanity_checking or not isinstance(outputs, dict):
            return
        if trainer.current_epoch % self.every_n_epochs:
            return
        experiments = _experiments(trainer, "add_audio")
        if not experiments:
            return
        rate = int(round(pl_module.sample_rate))
        for item in range(min(self.count, outputs["target"].shape[0])):
            for kind in ("input", "prediction", "target"):
                clip = outputs[kind][item, 0].detach().float().cpu().clamp(-1, 1)
                for experiment in experiments:
                    experiment.add_audio(f"audio/{item}/{kind}", clip, trainer.global_step, sample_rate=rate)


class ResponsePlots(lightning.Callback):
    """Log figures at the end of validation: frequency responses of the model's linear blocks
    (:func:`linear_blocks`) and the control trajectories of the last validation batch.

    Args:
        every_n_epochs: log at every n-th validation epoch.
        names: class names of linear blocks without a ``sections`` method.
        n_fft: FFT size of the impulse responses.
        max_controls: the most parameters drawn (the first, in ``params`` order);
            trajectories are those of the batch's first item.

    Figures are tagged ``response/<block path>`` and ``controls``.

    Example:
        >>> ResponsePlots(every_n_epochs=5).every_n_epochs
        5
    """

    def __init__(
        self, every_n_epochs: int = 1, names: Sequence[str] = LINEAR_BLOCKS, n_fft: int = 8192, max_controls: int = 16
    ):
        self.every_n_epochs = _period("every_n_epochs", every_n_epochs)
        self.n_fft = _period("n_fft", n_fft)
        self.max_controls = _period("max_controls", max_controls)
        self.names = tuple(names)
        self._params: Optional[Dict[str, torch.Tensor]] = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if isinstance(outputs, dict) and outputs.get("params"):
            self._params = {name: value.detach().cpu() for name, value in outputs["params"].items()}

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        params, self._params = self._params, None
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        experiments = _experiments(trainer, "add_figure")
        if not experiments:
            return
        figures = {
            f"response/{path}": plot.plot_frequency_response({path: block}, n_fft=self.n_fft)
            for path, block in linear_blocks(pl_module.model, self.names).items()
        }
        if params:
            shown = dict(list(params.items())[: self.max_controls])
            figures["controls"] = plot.plot_controls(shown, pl_module.sample_rate)
        for tag, figure in figures.items():
            for experiment in experiments:
                experiment.add_figure(tag, figure, trainer.global_step, close=False)


class PredictionWriter(BasePredictionWriter):
    """Write each predicted item as WAV files (float32): ``<folder>/<batch>_<item>.<kind>.wav``.

    Args:
        folder: where the files go (created when missing).
        kinds: which spans of :meth:`~ddsp_kit.train.EffectModule.predict_step` to write,
            among ``"input"``, ``"prediction"`` and ``"target"``.

    Channels are written as the file's channels. ``written`` lists the paths.

    Example:
        >>> PredictionWriter("predictions", kinds=("prediction",)).kinds
        ('prediction',)
    """

    def __init__(self, folder: str = "predictions", kinds: Sequence[str] = ("input", "prediction", "target")):
        super().__init__(write_interval="batch")
        unknown = sorted(set(kinds) - {"input", "prediction", "target"})
        if unknown or not kinds:
            raise ValueError(f"kinds are among 'input', 'prediction' and 'target', got {list(kinds)!r}")
        self.folder, self.kinds = Path(folder), tuple(kinds)
        self.written: List[Path] = []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        rate = int(round(pl_module.sample_rate))
        for kind in self.kinds:
            for item, audio in enumerate(prediction[kind].detach().float().cpu()):
                path = self.folder / f"{batch_idx:04d}_{item:02d}.{kind}.wav"
                soundfile.write(path, audio.T.numpy(), rate, subtype="FLOAT")
                self.written.append(path)
