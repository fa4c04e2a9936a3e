"""Lightning training: EffectModule, PairedDataModule and the logging callbacks, on tiny synthetic data."""

import csv

import numpy as np
import pytest
import torch

lightning = pytest.importorskip("lightning")
soundfile = pytest.importorskip("soundfile")

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger  # noqa: E402

from ddsp_kit.export.model_file import load_model  # noqa: E402
from ddsp_kit.models.presets import overdrive  # noqa: E402
from ddsp_kit.models.recurrent import RecurrentModel  # noqa: E402
from ddsp_kit.processors import Gain  # noqa: E402
from ddsp_kit.train import AudioExamples, EffectModule, EpochSampler, PairedDataModule, ResponsePlots  # noqa: E402

RATE = 16000


def _write_pairs(folder, names=("a", "b", "c"), drive=0.5):
    """One second of noise per pair, through a gain of -6 dB and a gentle tanh."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        x = rng.uniform(-0.5, 0.5, RATE).astype(np.float32)
        soundfile.write(folder / f"{name}.input.wav", x, RATE, subtype="FLOAT")
        soundfile.write(folder / f"{name}.target.wav", np.tanh(drive * x), RATE, subtype="FLOAT")
    return folder


def _datamodule(folder, **options):
    """One whole file per split; training crops of 2048 samples, evaluation crops of 0.5 s."""
    settings = dict(
        root=str(folder), split_by="file", fractions=(1 / 3, 1 / 3, 1 / 3), batch_size=4, segment_samples=2048,
        eval_segment_samples=8000,
    )
    settings.update(options)
    return PairedDataModule(RATE, **settings)


def _trainer(tmp_path, max_steps, logger=None, **options):
    settings = dict(
        max_steps=max_steps, accelerator="cpu", devices=1, enable_checkpointing=True, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, num_sanity_val_steps=0, log_every_n_steps=1,
    )
    settings.update(options)
    return lightning.Trainer(logger=logger if logger is not None else CSVLogger(tmp_path), **settings)


def _val_batch(datamodule):
    datamodule.setup("validate")
    return next(iter(datamodule.val_dataloader()))


def test_fit_resume_test_export(tmp_path):
    lightning.seed_everything(0)
    datamodule = _datamodule(_write_pairs(tmp_path / "data"))
    module = EffectModule(Gain(RATE, 0.0), lr=0.05)
    batch = _val_batch(datamodule)
    with torch.no_grad():
        before = module.loss(*module.aligned(batch)[:2]).total.item()

    trainer = _trainer(tmp_path, 30, check_val_every_n_epoch=5)
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 30
    with torch.no_grad():
        after = module.loss(*module.aligned(batch)[:2]).total.item()
    assert after < 0.2 * before
    assert abs(module.model.values()["gain_db"] + 6.0) < 1.5  # tanh(0.5 x) is about -6 dB of x

    rows = list(csv.DictReader(open(trainer.logger.log_dir + "/metrics.csv")))
    train_losses = [float(r["train/loss_step"]) for r in rows if r.get("train/loss_step")]
    assert len(train_losses) >= 25 and np.mean(train_losses[-5:]) < 0.5 * np.mean(train_losses[:5])
    assert any(r.get("val/esr") for r in rows) and any(r.get("val/mrstft") for r in rows)

    checkpoint = trainer.checkpoint_callback.best_model_path
    assert checkpoint and torch.load(checkpoint, weights_only=False)["global_step"] == 30
    resumed = EffectModule.load_from_checkpoint(checkpoint)
    assert resumed.model.values() == module.model.values()
    trainer = _trainer(tmp_path, 36, check_val_every_n_epoch=5)
    trainer.fit(resumed, datamodule=datamodule, ckpt_path=checkpoint)
    assert trainer.global_step == 36

    results = trainer.test(resumed, datamodule=datamodule, verbose=False)
    assert results[0]["test/esr"] < 0.05 and "test/loudness_difference_lu" in results[0]

    path = resumed.export(tmp_path / "gain.safetensors")
    loaded = load_model(path)
    x = batch["input"]
    with torch.no_grad():
        assert torch.equal(loaded(x).audio, resumed(x).audio)


def test_knobs_recurrent_model_with_csv_logger_and_callbacks(tmp_path):
    lightning.seed_everything(0)
    folder = _write_pairs(tmp_path / "data", names=("a_drive=0.2", "b_drive=0.5", "c_drive=0.8"))
    datamodule = _datamodule(folder, warmup_samples=256)
    module = EffectModule(
        RecurrentModel(RATE, hidden=4, num_knobs=1), loss={"esr": 1.0}, lr=1e-2,
        scheduler={"type": "StepLR", "args": {"step_size": 1, "gamma": 0.5}},
    )
    trainer = _trainer(tmp_path, 4, callbacks=[AudioExamples(), ResponsePlots()])
    trainer.fit(module, datamodule=datamodule)  # the callbacks skip a CSV logger quietly
    assert trainer.global_step == 4
    assert trainer.optimizers[0].param_groups[0]["lr"] < 1e-2
    assert datamodule.datasets["train"].epoch == trainer.current_epoch - 1


def test_callbacks_log_audio_and_figures_to_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    lightning.seed_everything(0)
    datamodule = _datamodule(_write_pairs(tmp_path / "data"))
    logger = TensorBoardLogger(tmp_path, name="tb")
    trainer = _trainer(tmp_path, 2, logger=logger, callbacks=[AudioExamples(count=1), ResponsePlots(n_fft=512)])
    trainer.fit(EffectModule(overdrive(RATE, bands=1), loss={"esr": 1.0}), datamodule=datamodule)
    events = EventAccumulator(logger.log_dir, size_guidance={"audio": 0, "images": 0})
    events.Reload()
    assert {"audio/0/input", "audio/0/prediction", "audio/0/target"} <= set(events.Tags()["audio"])
    assert {"response/blocks.0", "response/blocks.3", "controls"} <= set(events.Tags()["images"])


def test_epoch_sampler_draws_new_crops_each_epoch(tmp_path):
    datamodule = _datamodule(_write_pairs(tmp_path / "data"))
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    assert isinstance(loader.sampler, EpochSampler)
    first = torch.cat([b["input"] for b in loader])
    loader.sampler.set_epoch(1)
    second = torch.cat([b["input"] for b in loader])
    assert first.shape == second.shape and not torch.equal(first, second)


def test_pairs_by_split_and_missing_splits(tmp_path):
    from ddsp_kit.data import plain_pairs

    pairs = plain_pairs(_write_pairs(tmp_path / "data"))
    datamodule = PairedDataModule(RATE, 4000, pairs={"train": pairs[:2], "test": pairs[2:]})
    datamodule.setup()
    assert len(datamodule.datasets["train"]) == 8 and len(datamodule.datasets["test"]) == 4
    assert datamodule.val_dataloader() == []


def test_clear_errors(tmp_path):
    folder = _write_pairs(tmp_path / "data")
    with pytest.raises(ValueError, match="MR-STFT"):
        _trainer(tmp_path, 1).fit(EffectModule(Gain(RATE)), datamodule=_datamodule(folder, segment_samples=512))
    with pytest.raises(ValueError, match="400 ms"):
        _trainer(tmp_path, 1).fit(
            EffectModule(Gain(RATE), loss={"esr": 1.0}), datamodule=_datamodule(folder, eval_segment_samples=2048)
        )
    with pytest.raises(ValueError, match="knob"):
        EffectModule(RecurrentModel(RATE, hidden=2, num_knobs=2)).aligned(_val_batch(_datamodule(folder)))
    with pytest.raises(ValueError, match="scheduler"):
        EffectModule(Gain(RATE), scheduler={"type": "Nope"})
    with pytest.raises(ValueError, match="unknown loss"):
        EffectModule(Gain(RATE), loss={"mse": 1.0})
    with pytest.raises(ValueError, match="sample_rate"):
        EffectModule(Gain(RATE), sample_rate=48000)
    with pytest.raises(ValueError, match="exactly one"):
        PairedDataModule(RATE, 2048)
    with pytest.raises(ValueError, match="layout"):
        PairedDataModule(RATE, 2048, root=str(folder), layout="nam")


@pytest.mark.parametrize("optimizer", ["lbfgs", "newton"])
def test_second_order_optimizers_fit_in_a_few_steps(tmp_path, optimizer):
    """Gain and a one-band EQ against tanh(0.5 x): a handful of L-BFGS or Newton steps get below Adam's 30."""
    lightning.seed_everything(0)
    datamodule = _datamodule(_write_pairs(tmp_path / "data"), batch_size=8)
    module = EffectModule(Gain(RATE, 0.0), loss={"esr": 1.0}, lr=1.0, optimizer=optimizer)
    trainer = _trainer(tmp_path, 4, check_val_every_n_epoch=100)
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 4
    assert abs(module.model.values()["gain_db"] + 6.0) < 1.0
    trainer.save_checkpoint(tmp_path / "second.ckpt")
    assert torch.load(tmp_path / "second.ckpt", weights_only=False)["optimizer_states"][0]["state"]  # resumable


def test_optimizer_options_are_checked():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        EffectModule(Gain(RATE), optimizer="sgd")
    with pytest.raises(ValueError, match="drop the scheduler"):
        EffectModule(Gain(RATE), optimizer="newton", scheduler={"type": "StepLR", "args": {"step_size": 1}})
    with pytest.raises(ValueError, match="bad optimizer_options for lbfgs"):
        EffectModule(Gain(RATE), optimizer="lbfgs", optimizer_options={"momentum": 0.9}).configure_optimizers()


def test_distributed_data_parallel_on_two_cpu_processes(tmp_path):
    """Lightning's own DDP (spawned, gloo on CPU): each process draws its half of the crops, the epoch reaches them."""
    lightning.seed_everything(0)
    datamodule = _datamodule(_write_pairs(tmp_path / "data"), batch_size=2)
    module = EffectModule(Gain(RATE, 0.0), loss={"esr": 1.0}, lr=0.05)
    trainer = _trainer(tmp_path, 6, accelerator="cpu", devices=2, strategy="ddp_spawn", check_val_every_n_epoch=100)
    trainer.fit(module, datamodule=datamodule)  # the spawned processes train; their weights come back
    assert module.model.values()["gain_db"] < -0.1
