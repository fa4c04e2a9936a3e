r"""The Lightning module that fits any processor to paired recordings.

:class:`EffectModule` runs a :class:`~ddsp_kit.processors.Processor` on the
``input`` of a batch of :class:`~ddsp_kit.data.PairedAudioDataset` items
(with their ``knobs`` when the model reads knobs) and compares the output with
the ``target`` through a :class:`~ddsp_kit.losses.CompositeLoss`.

Alignment convention. The first ``warmup`` samples of every item only let
the model settle from its zero state, and a model with ``latency`` ``L``
delays its output by ``L`` samples, so the loss compares
``output[..., warmup + L:]`` with ``target[..., warmup:N - L]`` (``N`` the
item length): ``segment - L`` samples of each item count.

Optimizers. ``"adam"`` (the default) for any model; ``"lbfgs"``
(:class:`torch.optim.LBFGS` with a strong-Wolfe line search) and ``"newton"``
(:class:`~ddsp_kit.train.second_order.NewtonCG`: damped Newton on
Hessian-vector products through the kernels) for gray-box models with few
parameters, best on full-length batches (a fixed batch or few, large items),
where they converge in tens of steps. ``"newton"`` runs Lightning's manual
optimization, so Trainer gradient clipping does not apply to it.

Seeding (``lightning.seed_everything``), gradient clipping
(``Trainer(gradient_clip_val=...)``), precision and devices are the
Trainer's business; this module holds the model, the loss and the optimizer.
"""

import logging
import math
from typing import Any, Dict, Mapping, Optional, Union

import lightning
import torch

from .. import metrics
from ..export.model_file import PathLike, block_config, build_block, save_model
from ..losses import CompositeLoss, MRSTFTLoss
from ..processors.base import Processor
from .second_order import NewtonCG

__all__ = ["EffectModule", "DEFAULT_LOSS", "SCHEDULERS", "OPTIMIZERS"]

logger = logging.getLogger(__name__)

Tensor = torch.Tensor

DEFAULT_LOSS = {"esr": 1.0, "mrstft": 0.1}
# Learning-rate schedulers a config may name (torch.optim.lr_scheduler classes).
SCHEDULERS = ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau")
OPTIMIZERS = ("adam", "lbfgs", "newton")


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_scheduler(scheduler: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """A scheduler config ``{"type": name, "args": {...}, "interval": "epoch"|"step"}``, checked."""
    if scheduler is None:
        return None
    if not isinstance(scheduler, Mapping) or scheduler.get("type") not in SCHEDULERS:
        raise ValueError(f"scheduler must be {{'type': one of {SCHEDULERS}, 'args': {{...}}}}, got {scheduler!r}")
    stray = sorted(set(scheduler) - {"type", "args", "interval"})
    if stray:
        raise ValueError(f"scheduler config takes 'type', 'args' and 'interval', got also {stray}")
    if not isinstance(scheduler.get("args", {}), Mapping):
        raise ValueError(f"scheduler 'args' must be a dict, got {scheduler['args']!r}")
    if scheduler.get("interval", "epoch") not in ("epoch", "step"):
        raise ValueError(f"scheduler 'interval' must be 'epoch' or 'step', got {scheduler['interval']!r}")
    return {"type": scheduler["type"], "args": dict(scheduler.get("args", {})), "interval": scheduler.get("interval", "epoch")}


class EffectModule(lightning.LightningModule):
    r"""Train a processor on paired audio (see the module documentation for the alignment).

    Args:
        model: the processor to fit, or its config ``{"type": class name, "args":
            {...}}`` (:func:`ddsp_kit.export.model_file.block_config`'s format).
        loss: loss weight by name (:class:`~ddsp_kit.losses.CompositeLoss`);
            default ``{"esr": 1.0, "mrstft": 0.1}``.
        loss_options: constructor arguments by loss name, e.g.
            ``{"esr": {"pre_emphasis": 0.95}}``.
        lr: the learning rate (Adam's; L-BFGS's step scale, 1 is usual; unused by Newton).
        weight_decay: Adam's weight decay.
        optimizer: one of ``OPTIMIZERS`` (see the module documentation).
        optimizer_options: further arguments of the optimizer (e.g. ``{"history_size": 20}``
            for L-BFGS, ``{"damping": 1e-2}`` for Newton).
        scheduler: optional ``{"type": one of SCHEDULERS, "args": {...},
            "interval": "epoch" or "step"}``; ``ReduceLROnPlateau`` watches ``val/loss``.
        sample_rate: Hz; default (None) the model's. Must equal the model's.

    The hyper-parameters saved in checkpoints hold the model's config, so
    ``EffectModule.load_from_checkpoint(path)`` rebuilds it. Logged values:
    ``train/loss``, ``train/<term>``, ``val/loss``, ``val/<term>``,
    ``val/<metric>`` (:func:`ddsp_kit.metrics.evaluate`), and ``test/...`` likewise.
    Validation and test items must hold at least 400 ms after the warm-up and
    latency (the loudness metric's gating block).

    Example:
        >>> from ddsp_kit.processors import Gain
        >>> module = EffectModule(Gain(16000), loss={"esr": 1.0})
        >>> module.hparams["model"]
        {'type': 'Gain', 'args': {'sample_rate': 16000, 'gain_db': 0.0}}
        >>> EffectModule({"type": "Gain", "args": {"sample_rate": 16000}}, lr=1e-2).model.sample_rate
        16000.0
    """

    def __init__(
        self,
        model: Union[Processor, Mapping[str, Any]],
        loss: Optional[Mapping[str, float]] = None,
        loss_options: Optional[Mapping[str, Mapping[str, Any]]] = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: Optional[Mapping[str, Any]] = None,
        sample_rate: Optional[float] = None,
        optimizer: str = "adam",
        optimizer_options: Optional[Mapping[str, Any]] = None,
    ):
        super().__init__()
        if isinstance(model, Mapping):
            model = build_block(dict(model))
        if not isinstance(model, Processor):
            raise TypeError(f"model must be a Processor or its config dict, got {type(model).__name__}")
        if sample_rate is not None and float(sample_rate) != model.sample_rate:
            raise ValueError(f"sample_rate {sample_rate} Hz differs from the model's {model.sample_rate:g} Hz")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.model = model
        self.sample_rate = model.sample_rate
        loss = dict(DEFAULT_LOSS if loss is None else loss)
        loss_options = {name: dict(option) for name, option in (loss_options or {}).items()}
        self.loss = CompositeLoss(loss, **loss_options)
        self.lr = _positive("lr", lr)
        self.weight_decay = float(weight_decay)
        self.scheduler = _check_scheduler(scheduler)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if optimizer == "newton" and self.scheduler is not None:
            raise ValueError("the Newton optimizer adapts its own damping: drop the scheduler")
        self.optimizer_name, self.optimizer_options = optimizer, dict(optimizer_options or {})
        self.automatic_optimization = optimizer != "newton"
        self.save_hyperparameters(
            {
                "model": block_config(model),
                "loss": loss,
                "loss_options": loss_options,
                "lr": self.lr,
                "weight_decay": self.weight_decay,
                "scheduler": self.scheduler,
                "sample_rate": self.sample_rate,
                "optimizer": optimizer,
                "optimizer_options": self.optimizer_options,
            }
        )

    # --- alignment and checks -------------------------------------------------------------------

    def min_loss_samples(self) -> int:
        """The fewest compared samples the loss accepts (the MR-STFT's longest frame), 1 without MR-STFT."""
        return max([term.min_samples for term in self.loss.terms.values() if isinstance(term, MRSTFTLoss)] + [1])

    def check_segments(self, segment_samples: int, eval_segment_samples: Optional[int] = None) -> None:
        """Raise ValueError when items of these lengths (warm-up excluded) are too short to train or evaluate.

        Args:
            segment_samples: samples of a training item after its warm-up.
            eval_segment_samples: the same for validation and test items (default ``segment_samples``).

        Example:
            >>> from ddsp_kit.processors import Gain
            >>> EffectModule(Gain(16000)).check_segments(512)
            Traceback (most recent call last):
            ...
            ValueError: training segments of 512 samples leave 512 to compare (latency 0), fewer than the 1025 the MR-STFT loss needs: lengthen the segments or drop 'mrstft' from the loss
        """
        latency, need = self.model.latency, self.min_loss_samples()
        checks = [("training", segment_samples, need)]
        evaluation = segment_samples if eval_segment_samples is None else eval_segment_samples
        checks.append(("validation/test", evaluation, max(need, math.ceil(metrics.LOUDNESS_BLOCK_S * self.sample_rate))))
        for split, samples, least in checks:
            if samples - latency < least:
                reason = (
                    "the MR-STFT loss needs: lengthen the segments or drop 'mrstft' from the loss"
                    if least == need and need > 1
                    else "the metrics need (one 400 ms loudness block): lengthen the segments"
                )
                raise ValueError(
                    f"{split} segments of {samples} samples leave {samples - latency} to compare "
                    f"(latency {latency}), fewer than the {least} {reason}"
                )

    def setup(self, stage: str) -> None:
        """Check an attached datamodule's sample rate and segment lengths (when it exposes them)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        rate = getattr(datamodule, "sample_rate", None)
        if rate is not None and float(rate) != self.sample_rate:
            raise ValueError(f"the data's sample rate {rate} Hz differs from the model's {self.sample_rate:g} Hz")
        if datamodule is not None and hasattr(datamodule, "segment_samples"):
            self.check_segments(datamodule.segment_samples, getattr(datamodule, "eval_segment_samples", None))

    def on_fit_start(self) -> None:
        """Log the datamodule's data-quality report (``quality``) as text to loggers that take text."""
        report = getattr(getattr(self.trainer, "datamodule", None), "quality", None)
        if report:
            for experiment in [lg.experiment for lg in self.trainer.loggers]:
                if callable(getattr(experiment, "add_text", None)):
                    experiment.add_text("data/quality", f"```\n{report}\n```", self.global_step)

    def forward(self, x: Tensor, knobs: Optional[Tensor] = None):
        """Run the model on ``x`` ``(batch, channels, samples)``; ``knobs`` ``(batch, K)`` reach it when it reads knobs."""
        if not self.model.num_knobs:
            return self.model(x)
        if knobs is None or knobs.dim() != 2 or knobs.shape[1] != self.model.num_knobs:
            shape = None if knobs is None else tuple(knobs.shape)
            raise ValueError(f"the model reads {self.model.num_knobs} knob(s); the batch's knobs are {shape}")
        return self.model(x, knobs=knobs)

    def aligned(self, batch: Mapping[str, Any]):
        """Run the model on a batch: ``(prediction, target, params)`` cut to the compared span."""
        x, target = batch["input"], batch["target"]
        warmup = int(torch.as_tensor(batch.get("warmup", 0)).reshape(-1)[0])
        latency = self.model.latency
        if target.shape[-1] - warmup - latency < 1:
            raise ValueError(
                f"items of {target.shape[-1]} samples with a warm-up of {warmup} leave nothing to compare "
                f"after the model's latency of {latency}"
            )
        result = self(x, batch.get("knobs"))
        return result.audio[..., warmup + latency:], target[..., warmup:target.shape[-1] - latency], result.params

    # --- steps ----------------------------------------------------------------------------------

    def _loss(self, prediction: Tensor, target: Tensor, split: str, batch_size: int) -> Tensor:
        result = self.loss(prediction, target)
        on_step = split == "train"
        # sync_dist: epoch means over every process under a distributed strategy (a no-op on one device)
        self.log(f"{split}/loss", result.total, prog_bar=True, on_step=on_step, on_epoch=True, batch_size=batch_size, sync_dist=True)
        for name, value in result.terms.items():
            self.log(f"{split}/{name}", value, on_step=on_step, on_epoch=True, batch_size=batch_size, sync_dist=True)
        return result.total

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        if self.automatic_optimization:
            prediction, target, _ = self.aligned(batch)
            return self._loss(prediction, target, "train", target.shape[0])

        def closure() -> Tensor:  # NewtonCG's closure: the loss with its graph, no backward
            prediction, target, _ = self.aligned(batch)
            return self.loss(prediction, target).total

        loss = self.optimizers().step(closure)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch["target"].shape[0])
        self.log("train/damping", self.optimizers().optimizer.state["damping"], on_step=True, on_epoch=False)
        return loss

    def _spans(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """The compared spans of ``input``, ``prediction`` (detached) and ``target``, and the model's ``params``."""
        prediction, target, params = self.aligned(batch)
        start = int(torch.as_tensor(batch.get("warmup", 0)).reshape(-1)[0])
        dry = batch["input"][..., start:start + target.shape[-1]]
        return {"input": dry, "prediction": prediction.detach(), "target": target, "params": params}

    def _evaluate(self, batch: Mapping[str, Any], split: str) -> Dict[str, Any]:
        spans = self._spans(batch)
        prediction, target = spans["prediction"], spans["target"]
        size = target.shape[0]
        spans["loss"] = self._loss(prediction, target, split, size)
        report = metrics.evaluate(prediction, target, self.sample_rate)
        self.log_dict({f"{split}/{name}": float(value) for name, value in report.items()}, batch_size=size, sync_dist=True)
        return spans

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> Dict[str, Any]:
        """The loss terms and :func:`ddsp_kit.metrics.evaluate` values, logged as epoch means.

        Returns the compared ``input``, ``prediction`` and ``target`` spans and the
        model's ``params`` (for the callbacks of :mod:`ddsp_kit.train.callbacks`).
        """
        return self._evaluate(batch, "val")

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> Dict[str, Any]:
        """As :meth:`validation_step`, logged under ``test/``."""
        return self._evaluate(batch, "test")

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> Dict[str, Any]:
        """The compared spans of ``input``, ``prediction`` and ``target``, and the model's ``params``."""
        return self._spans(batch)

    def configure_optimizers(self):
        options = dict(self.optimizer_options)
        try:
            if self.optimizer_name == "newton":
                return NewtonCG(self.model.parameters(), **options)
            if self.optimizer_name == "lbfgs":
                options.setdefault("line_search_fn", "strong_wolfe")
                optimizer = torch.optim.LBFGS(self.model.parameters(), lr=self.lr, **options)
            else:
                optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay, **options)
        except TypeError as error:
            raise ValueError(f"bad optimizer_options for {self.optimizer_name}: {error}") from error
        if self.scheduler is None:
            return optimizer
        scheduler_class = getattr(torch.optim.lr_scheduler, self.scheduler["type"])
        try:
            scheduler = scheduler_class(optimizer, **self.scheduler["args"])
        except TypeError as error:
            raise ValueError(f"bad arguments for scheduler {self.scheduler['type']}: {error}") from error
        config = {"scheduler": scheduler, "interval": self.scheduler["interval"]}
        if self.scheduler["type"] == "ReduceLROnPlateau":
            config["monitor"] = "val/loss"
        return {"optimizer": optimizer, "lr_scheduler": config}

    def export(self, path: PathLike):
        """Write the model to a model file (:func:`ddsp_kit.export.model_file.save_model`); returns its path."""
        path = save_model(self.model, path)
        logger.info("model written to %s", path)
        return path
