"""``ddsp-kit process``: a saved model run on a file equals the model run in Python."""

import numpy as np
import pytest
import soundfile
import torch

from ddsp_kit.chain import Chain
from ddsp_kit.cli import main
from ddsp_kit.export import save_model
from ddsp_kit.inference import process_audio
from ddsp_kit.models import RecurrentModel
from ddsp_kit.processors import Biquad, Compressor, HardClip

FS = 16000


def test_process_streams_a_file_like_the_model(tmp_path):
    model = Chain(Biquad(FS, "peak", 1000.0, 2.0, 6.0), Compressor(FS, lookahead_ms=2.0), HardClip(FS, oversampling=2))
    path = save_model(model, tmp_path / "model.safetensors")
    x = 0.5 * np.random.default_rng(0).standard_normal((3000, 2)).astype(np.float32)
    soundfile.write(str(tmp_path / "in.wav"), x, FS, subtype="FLOAT")
    assert main(["process", str(path), str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), "--block-size", "37"]) == 0
    y, rate = soundfile.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    expected = model(torch.from_numpy(x.T.copy()).unsqueeze(0)).audio[0].detach().numpy().T
    assert rate == FS and y.shape == x.shape
    np.testing.assert_allclose(y, expected, atol=2e-6)  # float32 blocks of 37 vs one pass


def test_latency_compensation_and_knobs():
    model = Compressor(FS, threshold_db=0.0, knee_db=0.0, lookahead_ms=1.0)  # a pure delay on quiet audio
    x = 0.01 * torch.randn(1, 500)
    shifted = process_audio(model, x, block_size=64, compensate_latency=True)
    torch.testing.assert_close(shifted, x, rtol=0, atol=1e-4)
    conditioned = RecurrentModel(FS, hidden=4, num_knobs=2)
    assert process_audio(conditioned, x, block_size=50, knobs=[0.1, 0.9]).shape == (1, 500)
    with pytest.raises(ValueError, match="reads 2 knobs"):
        process_audio(conditioned, x)


def test_process_reports_bad_files(tmp_path, capsys):
    path = save_model(Biquad(FS, "lowpass", 500.0), tmp_path / "model.safetensors")
    soundfile.write(str(tmp_path / "in.wav"), np.zeros((100, 1), np.float32), 44100)
    with pytest.raises(SystemExit) as exit_info:
        main(["process", str(path), str(tmp_path / "in.wav"), str(tmp_path / "out.wav")])
    assert exit_info.value.code == 1 and "sample rate 44100 Hz" in capsys.readouterr().err
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    with pytest.raises(SystemExit):
        main(["process", str(tmp_path / "bad.safetensors"), str(tmp_path / "in.wav"), str(tmp_path / "out.wav")])
    assert "not a readable model file" in capsys.readouterr().err
