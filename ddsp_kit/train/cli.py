r"""``ddsp-kit fit | validate | test | predict -c recipes/<name>.yaml``: the LightningCLI of ddsp_kit.

A recipe is a LightningCLI config: ``model`` holds :class:`EffectModule`'s
arguments, its ``model`` a ``class_path`` (a processor class or a preset
function such as ``ddsp_kit.models.presets.overdrive``) with ``init_args``;
``data`` a ``class_path`` of any LightningDataModule
(:class:`PairedDataModule`, :class:`SyntheticDataModule`); ``trainer`` the
Trainer's arguments; ``checkpoint`` those of the ModelCheckpoint callback
(default: keep the best by ``val/loss`` and the last, for resuming with
``--ckpt_path``). Audio examples and response plots are logged by default.

``fit`` then (unless ``--test_after_fit false``) restores the best checkpoint,
validates and tests it, writes the model file (``--export``, default
``<log dir>/model.safetensors``); :attr:`EffectCLI.results` holds the metrics
by split and :attr:`EffectCLI.summary` their table. ``predict`` writes the test split's predictions as WAV files
(:class:`PredictionWriter`, default folder ``<log dir>/predictions``).
"""

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import lightning
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from .callbacks import AudioExamples, PredictionWriter, ResponsePlots
from .module import EffectModule

__all__ = ["EffectCLI", "SUBCOMMANDS", "format_summary", "polarity_warnings"]

SUBCOMMANDS = ("fit", "validate", "test", "predict")


def format_summary(results: Dict[str, Dict[str, float]]) -> str:
    """A fixed-width table of metrics (rows) by split (columns) from ``{split: {name: value}}``.

    Example:
        >>> print(format_summary({"validation": {"val/esr": 0.0123}, "test": {"test/esr": 0.02}}))
        metric  validation  test
        esr     0.0123      0.02
    """
    names = sorted({name.split("/", 1)[-1] for values in results.values() for name in values})
    rows = [["metric", *results]]
    for name in names:
        cells = [name]
        for values in results.values():
            value = next((v for key, v in values.items() if key.split("/", 1)[-1] == name), math.nan)
            cells.append(f"{value:.4g}")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def polarity_warnings(results: Dict[str, Dict[str, float]]) -> List[str]:
    """A warning per split whose mean ``inverted`` metric says the model's output is polarity-inverted.

    Example:
        >>> polarity_warnings({"test": {"test/inverted": 1.0, "test/esr_inverted": 0.01}})
        ["warning: on test the model's output is polarity-inverted against the target (ESR 0.01 with its sign flipped): weight the ESR term or add a Polarity block"]
    """
    warnings = []
    for split, values in results.items():
        inverted = next((v for k, v in values.items() if k.endswith("/inverted")), 0.0)
        if inverted > 0.5:  # a magnitude-only loss can settle on the mirrored solution
            flipped = next((v for k, v in values.items() if k.endswith("/esr_inverted")), math.nan)
            warnings.append(
                f"warning: on {split} the model's output is polarity-inverted against the target "
                f"(ESR {flipped:.3g} with its sign flipped): weight the ESR term or add a Polarity block"
            )
    return warnings


class EffectCLI(LightningCLI):
    """LightningCLI over :class:`EffectModule` and any LightningDataModule (see the module documentation).

    Args:
        args: the command line after ``ddsp-kit`` (subcommand first); None reads ``sys.argv``.
        run: run the subcommand (False only parses and instantiates).
    """

    def __init__(self, args: Optional[Sequence[str]] = None, run: bool = True):
        self.summary: Optional[str] = None
        self.results: Dict[str, Dict[str, float]] = {}
        self.exported: Optional[Path] = None
        self.written: List[Path] = []
        super().__init__(
            EffectModule,
            lightning.LightningDataModule,
            subclass_mode_data=True,
            args=None if args is None else list(args),
            run=run,
            trainer_defaults={"callbacks": [AudioExamples(), ResponsePlots()]},
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": "ddsp-kit"},
        )

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.monitor": "val/loss", "checkpoint.save_last": True, "checkpoint.filename": "best-{step}"})
        parser.add_argument("--export", type=Optional[str], default=None, help="fit: model file to write (default <log dir>/model.safetensors)")
        parser.add_argument("--test_after_fit", type=bool, default=True, help="fit: validate and test the best checkpoint, then export")

    def _log_dir(self) -> Path:
        return Path(self.trainer.log_dir or self.trainer.default_root_dir)

    def after_fit(self) -> None:
        config = self.config["fit"]
        if not config["test_after_fit"] or self.trainer.interrupted:
            return
        best = self.trainer.checkpoint_callback.best_model_path if self.trainer.checkpoint_callback else ""
        ckpt = best or None  # None: the weights as trained
        results = {"validation": self.trainer.validate(self.model, datamodule=self.datamodule, ckpt_path=ckpt, verbose=False)}
        results["test"] = self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt, verbose=False)
        self.results = results = {split: values[0] for split, values in results.items() if values}
        self.exported = self.model.export(config["export"] or self._log_dir() / "model.safetensors")
        lines = [format_summary(results), f"checkpoint: {best or '(none)'}", f"model file: {self.exported}"]
        self.summary = "\n".join(lines + polarity_warnings(results))

    def before_predict(self) -> None:
        if not any(isinstance(c, PredictionWriter) for c in self.trainer.callbacks):
            self.trainer.callbacks.append(PredictionWriter(str(self._log_dir() / "predictions")))

    def after_predict(self) -> None:
        writers = [c for c in self.trainer.callbacks if isinstance(c, PredictionWriter)]
        self.written = [path for writer in writers for path in writer.written]
        folders = sorted({str(path.parent) for path in self.written})
        self.summary = f"wrote {len(self.written)} WAV files to {', '.join(folders) or '(nowhere)'}"
