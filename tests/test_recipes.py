"""``ddsp-kit fit | validate | test | predict`` from recipes, end to end on tiny built-in data."""

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

pytest.importorskip("lightning")
pytest.importorskip("jsonargparse")

from ddsp_kit.cli import main  # noqa: E402
from ddsp_kit.export import load_model  # noqa: E402
from ddsp_kit.train.cli import EffectCLI, format_summary  # noqa: E402

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def _tiny(tmp_path, steps=4):
    """Quickstart at 16 kHz on 6 s of synthetic audio, a few steps, no progress bar."""
    return [
        "-c", str(RECIPES / "quickstart.yaml"),
        "--model.model.init_args.sample_rate", "16000", "--data.init_args.sample_rate", "16000",
        "--data.init_args.seconds", "6", "--data.init_args.root", str(tmp_path / "cache"),
        "--data.init_args.segment_samples", "4096", "--data.init_args.eval_segment_samples", "16000",
        "--data.init_args.batch_size", "2",
        "--trainer.max_steps", str(steps), "--trainer.val_check_interval", "2",
        "--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false",
    ]


def test_fit_resume_test_predict(tmp_path, capsys):
    assert main(["fit", *_tiny(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "esr" in out and "loudness_difference_lu" in out and "model file:" in out
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    model = load_model(run / "model.safetensors")
    assert model.sample_rate == 16000 and (run / "config.yaml").is_file()
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 4

    # resume from the last checkpoint and train on to step 6
    assert main(["fit", *_tiny(tmp_path, steps=6), "--ckpt_path", str(last)]) == 0
    resumed = tmp_path / "runs" / "lightning_logs" / "version_1" / "checkpoints" / "last.ckpt"
    assert torch.load(resumed, weights_only=False)["global_step"] == 6

    assert main(["test", *_tiny(tmp_path), "--ckpt_path", str(resumed)]) == 0
    assert main(["predict", *_tiny(tmp_path), "--ckpt_path", str(resumed)]) == 0
    predictions = sorted((tmp_path / "runs" / "lightning_logs").glob("version_*/predictions/*.prediction.wav"))
    assert predictions
    audio, rate = soundfile.read(predictions[0], dtype="float32")
    assert rate == 16000 and audio.shape == (16000 - 0,) and np.isfinite(audio).all() and np.abs(audio).max() > 0


def test_bad_configs_end_with_a_message(tmp_path, capsys):
    assert main(["fit", *_tiny(tmp_path), "--model.lr", "-1"]) == 1
    assert "lr must be a finite number > 0" in capsys.readouterr().err
    assert main(["fit", *_tiny(tmp_path), "--data.init_args.device", "wah"]) == 1
    assert "device must be one of" in capsys.readouterr().err
    assert main(["fit", *_tiny(tmp_path), "--data.init_args.sample_rate", "22050"]) == 1
    assert "differs from the model's 16000 Hz" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a key the recipe schema does not know: jsonargparse's usage error
        main(["fit", *_tiny(tmp_path), "--model.learning_rate", "0.1"])
    assert "learning_rate" in capsys.readouterr().err


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_recipe_parses_and_builds(recipe):
    cli = EffectCLI(["-c", str(recipe)], run=False)  # without run, no subcommand
    assert cli.model.model.sample_rate == cli.datamodule.sample_rate
    assert sum(p.numel() for p in cli.model.parameters()) > 0
    assert yaml.safe_load(recipe.read_text())["trainer"]["max_steps"] > 0


def test_format_summary_aligns_splits():
    table = format_summary({"validation": {"val/esr": 0.5, "val/l1": 0.1}, "test": {"test/esr": 0.25}})
    assert table.splitlines() == ["metric  validation  test", "esr     0.5         0.25", "l1      0.1         nan"]
