"""Fit a Neural Amp Modeler (NAM) reference model on a paired recording.

Run with NAM's own interpreter (not ddsp_kit's); this file imports nothing from
ddsp_kit:

    /work/venv-nam/bin/python bench/nam_fit.py --input in.wav --target out.wav \
        --arch wavenet|lstm --train-stop N --val-start N --val-stop N \
        --budget-s 600 --out DIR [--seed 0]

Training goes through NAM's own code path: ``nam.train.lightning_module
.LightningModule`` (its losses, Adam + ExponentialLR recipe), ``nam.data.Dataset``
and a PyTorch Lightning ``Trainer``, as NAM's simplified trainer
(``nam.train.core.train``) does. What is deliberately *not* taken from that trainer:

* its capture-file checks (input-version detection, latency calibration, blip and
  replicate checks): they only make sense for NAM's standard reamp signal;
* the ``normalize_joint_dataset_output`` hook: the model is fitted to, and
  predicts, the raw target level;
* ``nam.data.Dataset``'s "Output clipped" check (|target| >= 1) and its
  pre-silence requirement, so that arbitrary paired audio is accepted;
* the latency: delay is fixed to 0.

Architectures are the "standard" ones of NAM's simplified trainer up to 0.12
(NAM 0.13 only ships a PackedWaveNet default there): see ``_model_config``.

Writes into DIR: ``prediction.wav`` (float32, same length and rate as the input,
the best model run causally over the whole input), ``result.json``, ``model.nam``
(NAM's export), ``checkpoints/`` and ``lightning_logs/``. The last line printed on
stdout is the result as one-line JSON.
"""

import argparse
import json
import os
import time
import warnings
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # `import nam` pulls in matplotlib

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
from pytorch_lightning.utilities.warnings import PossibleUserWarning  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import nam  # noqa: E402
from nam import data as nam_data  # noqa: E402
from nam.train.lightning_module import LightningModule  # noqa: E402

# NAM simplified trainer (<= 0.12) defaults
_NY_DEFAULT = 8192
_BATCH_SIZE_DEFAULT = 16
_CAB_MRSTFT_PRE_EMPH_WEIGHT = 2.0e-4
_CAB_MRSTFT_PRE_EMPH_COEF = 0.85


def _wavenet_standard_config() -> dict:
    """NAM "standard" WaveNet (13,801 parameters, receptive field 4,093).

    Same network as ``get_wavenet_config(Architecture.STANDARD)`` in NAM <= 0.12's
    ``nam/train/core.py``, written in the 0.13 layer-array format (``head`` dict
    instead of ``head_size``/``head_bias``), as in NAM's
    ``nam_full_configs/models/wavenet.json``.
    """
    dilations = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    return {
        "layers_configs": [
            {
                "condition_size": 1,
                "input_size": 1,
                "channels": 16,
                "head": {"out_channels": 8, "kernel_size": 1, "bias": False},
                "kernel_size": 3,
                "dilations": list(dilations),
                "activation": "Tanh",
            },
            {
                "condition_size": 1,
                "input_size": 16,
                "channels": 8,
                "head": {"out_channels": 1, "kernel_size": 1, "bias": True},
                "kernel_size": 3,
                "dilations": list(dilations),
                "activation": "Tanh",
            },
        ],
        "head_scale": 0.02,
    }


def _model_config(arch: str, mrstft: bool) -> dict:
    """Model/loss/optimiser config as NAM <= 0.12's ``_get_configs`` builds it."""
    if arch == "wavenet":
        config = {
            "net": {"name": "WaveNet", "config": _wavenet_standard_config()},
            "loss": {"val_loss": "esr"},
            # train(lr=0.004, lr_decay=0.007) -> gamma = 1 - lr_decay
            "optimizer": {"lr": 0.004},
            "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.993}},
        }
    elif arch == "lstm":
        config = {
            "net": {
                "name": "LSTM",
                # get_lstm_config(Architecture.STANDARD)
                "config": {
                    "num_layers": 1,
                    "hidden_size": 24,
                    "train_burn_in": 4096,
                    "train_truncate": 512,
                },
            },
            "loss": {
                "val_loss": "mse",
                "mask_first": 4096,  # parsed but not applied by NAM 0.13
                "pre_emph_weight": 1.0,
                "pre_emph_coef": 0.85,
            },
            "optimizer": {"lr": 0.01},
            "lr_scheduler": {"class": "ExponentialLR", "kwargs": {"gamma": 0.995}},
        }
    else:
        raise ValueError(f"unknown arch {arch!r}")
    if mrstft:  # train(fit_mrstft=True) is NAM's default
        config["loss"]["pre_emph_mrstft_weight"] = _CAB_MRSTFT_PRE_EMPH_WEIGHT
        config["loss"]["pre_emph_mrstft_coef"] = _CAB_MRSTFT_PRE_EMPH_COEF
    return config


class _Dataset(nam_data.Dataset):
    """``nam.data.Dataset`` minus its "Output clipped" (|y| >= 1) rejection."""

    def _validate_inputs_after_processing(self, x, y, nx, ny):
        assert x.ndim == 1 and y.ndim == 1 and len(x) == len(y)
        if nx > len(x):
            raise RuntimeError(
                f"Input of length {len(x)}, but receptive field is {nx}."
            )
        if ny is not None:
            assert ny <= len(y) - nx + 1


class _StepTimer(pl.Callback):
    """Wall time spent in training batches and in validation (measurement only)."""

    def __init__(self):
        self.train_s = 0.0
        self.train_batches = 0
        self.val_s = 0.0
        self.val_runs = 0
        self._t = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._t = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train_s += time.perf_counter() - self._t
        self.train_batches += 1

    def on_validation_start(self, trainer, pl_module):
        self._t = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        self.val_s += time.perf_counter() - self._t
        self.val_runs += 1


def _read_mono(path: Path):
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return audio[:, 0].copy(), int(rate), int(audio.shape[1])


@torch.no_grad()
def _predict(net, x: np.ndarray, chunk: int) -> np.ndarray:
    """Run ``net`` causally over all of ``x``; output has ``len(x)`` samples.

    Zeros are prepended by ``receptive_field - 1`` (NAM's ``pad_start``). Models
    with a receptive field > 1 (WaveNet, stateless) are run in chunks that each
    carry ``receptive_field - 1`` samples of context, which is exact; stateful
    models (LSTM, receptive field 1) are run over the whole signal in one call
    (NAM processes it sequentially, carrying the state).
    """
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    rf = int(net.receptive_field)
    if rf <= 1:
        return net(xt, pad_start=True).cpu().numpy().astype(np.float32)
    xp = torch.cat([torch.zeros(rf - 1), xt])
    out = []
    for i in range(0, len(x), chunk):
        j = min(i + chunk, len(x))
        out.append(net(xp[i : j + rf - 1], pad_start=False).cpu().numpy())
    y = np.concatenate(out).astype(np.float32)
    assert len(y) == len(x), (len(y), len(x))
    return y


def _esr(y: np.ndarray, p: np.ndarray) -> float:
    y = y.astype(np.float64)
    p = p.astype(np.float64)
    return float(np.sum((y - p) ** 2) / max(np.sum(y**2), 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, type=Path)
    ap.add_argument("--target", required=True, type=Path)
    ap.add_argument("--arch", required=True, choices=("wavenet", "lstm"))
    ap.add_argument("--train-stop", required=True, type=int)
    ap.add_argument("--val-start", required=True, type=int)
    ap.add_argument("--val-stop", required=True, type=int)
    ap.add_argument("--budget-s", required=True, type=float)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=_BATCH_SIZE_DEFAULT)
    ap.add_argument("--ny", type=int, default=_NY_DEFAULT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--no-mrstft",
        action="store_true",
        help="drop the pre-emphasised MRSTFT loss term (NAM's default fit_mrstft=True)",
    )
    ap.add_argument("--predict-chunk", type=int, default=1 << 18)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    pl.seed_everything(args.seed, workers=True)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    notes = []

    # ---- data -----------------------------------------------------------------
    x_np, rate_x, ch_x = _read_mono(args.input)
    y_np, rate_y, ch_y = _read_mono(args.target)
    if rate_x != rate_y:
        raise ValueError(f"sample rates differ: input {rate_x}, target {rate_y}")
    if ch_x > 1:
        notes.append(f"input has {ch_x} channels; channel 0 used")
    if ch_y > 1:
        notes.append(f"target has {ch_y} channels; trained on channel 0 only")
    n = min(len(x_np), len(y_np))
    if len(x_np) != len(y_np):
        notes.append(
            f"input/target lengths differ ({len(x_np)} vs {len(y_np)}); "
            f"training data truncated to {n}"
        )
    if not (0 < args.train_stop <= n and 0 <= args.val_start < args.val_stop <= n):
        raise ValueError("invalid train/validation span")
    if args.val_start < args.train_stop:
        notes.append("validation span overlaps the train span")
    target_peak = float(np.max(np.abs(y_np[:n])))
    if target_peak >= 1.0:
        notes.append(
            f"target peak {target_peak:.3f} >= 1 (NAM's 'Output clipped' check bypassed)"
        )

    model_config = _model_config(args.arch, mrstft=not args.no_mrstft)
    model = LightningModule.init_from_config(model_config)
    rf = int(model.net.receptive_field)
    x_t = torch.from_numpy(x_np[:n])
    y_t = torch.from_numpy(y_np[:n])
    common = dict(
        nx=rf, sample_rate=float(rate_x), delay=0, require_input_pre_silence=None
    )
    ds_train = _Dataset(x_t, y_t, ny=args.ny, stop_samples=args.train_stop, **common)
    ds_val = _Dataset(
        x_t,
        y_t,
        ny=None,
        start_samples=args.val_start,
        stop_samples=args.val_stop,
        **common,
    )
    model.net.sample_rate = ds_train.sample_rate
    for ds in (ds_train, ds_val):  # NAM's handshakes
        ds.handshake(model.net)
        model.net.handshake(ds)
    batch_size = min(args.batch_size, len(ds_train))
    if batch_size < 1:
        raise ValueError("train span too short for one datum (nx + ny - 1 samples)")
    if batch_size != args.batch_size:
        notes.append(f"batch size reduced to {batch_size} (train data has few items)")
    train_loader = DataLoader(
        ds_train,
        batch_size=batch_size,
        shuffle=True,
        pin_memory=False,
        drop_last=True,
        num_workers=0,
    )
    val_loader = DataLoader(ds_val)

    # ---- training -------------------------------------------------------------
    ckpt = pl.callbacks.ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best_{epoch:04d}_{step}",
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        every_n_epochs=1,
    )
    timer = _StepTimer()
    trainer_config = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=-1,
        max_time=timedelta(seconds=args.budget_s),
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        log_every_n_steps=1,
    )
    trainer = pl.Trainer(
        callbacks=[ckpt, timer],
        default_root_dir=out,
        logger=pl.loggers.CSVLogger(out, name="lightning_logs"),
        **trainer_config,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PossibleUserWarning)
        trainer.fit(model, train_loader, val_loader)
    train_seconds = time.perf_counter() - t0
    steps = int(trainer.global_step)
    epochs = int(trainer.current_epoch)

    best_path = ckpt.best_model_path
    best_score = None if ckpt.best_model_score is None else float(ckpt.best_model_score)
    if best_path:
        # As NAM's trainer does: rebuild from the config, load the best checkpoint.
        model = LightningModule.load_from_checkpoint(
            best_path,
            weights_only=False,
            **LightningModule.parse_config(model_config),
        )
    else:
        notes.append("no validation run finished; using the last weights")
    model.cpu()
    model.eval()
    net = model.net
    net.sample_rate = float(rate_x)

    # ---- prediction over the whole input ---------------------------------------
    t1 = time.perf_counter()
    pred = _predict(net, x_np, args.predict_chunk)
    predict_seconds = time.perf_counter() - t1
    sf.write(str(out / "prediction.wav"), pred, rate_x, subtype="FLOAT")
    if not np.all(np.isfinite(pred)):
        notes.append("prediction contains non-finite values")

    nam_file = None
    try:
        net.export(out)
        nam_file = str(out / "model.nam")
    except Exception as e:  # export is a convenience only
        notes.append(f"NAM export failed: {type(e).__name__}: {e}")

    n_params = int(sum(p.numel() for p in net.parameters() if p.requires_grad))
    steps_per_epoch = len(train_loader)
    val_span = slice(args.val_start, args.val_stop)
    result = {
        "arch": args.arch,
        "nam_version": nam.__version__,
        "net": model_config["net"]["name"],
        "params": n_params,
        "receptive_field": rf,
        "train_seconds": round(train_seconds, 3),
        "budget_s": args.budget_s,
        "epochs": epochs,
        "steps": steps,
        "steps_per_epoch": steps_per_epoch,
        "epochs_fractional": round(steps / max(steps_per_epoch, 1), 3),
        "s_per_step": round(timer.train_s / max(timer.train_batches, 1), 4),
        "validation_runs": timer.val_runs,
        "s_per_validation": round(timer.val_s / max(timer.val_runs, 1), 3),
        "best_val_loss": best_score,
        "val_loss_kind": str(model_config["loss"]["val_loss"]),
        "best_checkpoint": best_path or None,
        "val_esr_prediction": _esr(y_np[:n][val_span], pred[:n][val_span]),
        "predict_seconds": round(predict_seconds, 3),
        "target_channel": 0,
        "target_channels": ch_y,
        "input_channels": ch_x,
        "sample_rate": rate_x,
        "n_input": len(x_np),
        "n_target": len(y_np),
        "target_peak": target_peak,
        "spans": {
            "train": [0, args.train_stop],
            "validation": [args.val_start, args.val_stop],
        },
        "seed": args.seed,
        "threads": args.threads,
        "model_config": model_config,
        "data_config": {
            "nx": rf,
            "ny_train": args.ny,
            "ny_validation": None,
            "delay": 0,
            "batch_size": batch_size,
            "shuffle": True,
            "drop_last": True,
            "normalize_joint_dataset_output": False,
        },
        "trainer_config": {
            k: (v.total_seconds() if isinstance(v, timedelta) else v)
            for k, v in trainer_config.items()
        },
        "prediction": str(out / "prediction.wav"),
        "nam_file": nam_file,
        "notes": notes,
    }
    with open(out / "result.json", "w") as fp:
        json.dump(result, fp, indent=2)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
