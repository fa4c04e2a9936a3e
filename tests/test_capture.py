"""datasets/capture.py: input assembly, hosts and grid captures (real hosts where installed, skipped otherwise)."""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from ddsp_kit.data import tonetwist_pairs

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("capture", ROOT / "datasets" / "capture.py")
capture = importlib.util.module_from_spec(_spec)
sys.modules["capture"] = capture  # dataclasses resolve their module by name
_spec.loader.exec_module(capture)

RATE = capture.RATE


def _guitarish(seconds=0.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * 196 * t) * np.exp(-3 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_pieces_are_trimmed_normalised_faded_and_segmented():
    body = -0.4 * np.sin(np.linspace(0.1, np.pi - 0.1, 2000))
    x = np.concatenate([np.zeros(100), 1e-5 * np.ones(10), body, np.zeros(50)])
    piece = capture.prepare_piece(x)
    assert piece.size == 2000 and np.isclose(np.abs(piece).max(), 1.0, atol=1e-5)
    assert piece[0] == 0 and abs(piece[-1]) < 1e-4  # raised-cosine fades start and end at zero
    seg = capture.segment(piece, 0.05)
    assert seg.size == 2400 and np.all(seg[2000:] == 0)  # zero-padded to the segment length
    assert capture.prepare_piece(np.zeros(10)).size == 0


def test_tonetwist_levels_are_seeded_and_bounded():
    x = np.ones(12 * RATE)
    a, b = capture.tonetwist_level(x, seed=3), capture.tonetwist_level(x, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, capture.tonetwist_level(x, seed=4))
    peak = 10 ** (-1 / 20)
    assert a.max() <= peak + 1e-6 and a.min() >= 0.1 * peak - 1e-6
    assert np.allclose(a[RATE:2 * RATE], a[RATE]) and np.allclose(a[6 * RATE:7 * RATE], a[6 * RATE])  # held 5 s
    step = np.abs(np.diff(a)).max()
    assert step <= peak * 0.9 / (0.01 * RATE) + 1e-6  # smoothed over 10 ms: no jump larger than one 480th


def test_pedalboard_device_and_grid(tmp_path):
    pedalboard = pytest.importorskip("pedalboard")
    x = _guitarish()
    device = capture.DEVICES["pb_chain"]
    y, latency = device.process(x[None])
    board = pedalboard.Pedalboard([
        pedalboard.HighpassFilter(120), pedalboard.Compressor(-24, 4, 5, 120), pedalboard.Gain(12),
        pedalboard.Distortion(14), pedalboard.LowShelfFilter(300, -3), pedalboard.PeakFilter(1800, 5, 0.8),
        pedalboard.LowpassFilter(5000), pedalboard.Gain(-20),
    ])
    assert latency == 0 and np.array_equal(y, board(x[None], RATE))  # the settings of shared/devices.md

    folder = capture.capture_device("pb_chain", tmp_path, audio=x)
    card = json.loads((folder / "card.json").read_text())
    assert card["settings"]["3.drive_db"] == 14 and card["host"] == "pedalboard" and "given input" in card["input"]
    assert "pb_chain.target.wav" in capture.report(folder)

    grid = capture.capture_grid("pb_chain", tmp_path, {"D": ("3.drive_db", 0.0, 30.0), "L": ("7.gain_db", -30.0, -10.0)}, 2, audio=x)
    pairs = tonetwist_pairs(grid, knob_names={"D": "drive", "L": "level"})
    assert len(pairs) == 4 and {tuple(sorted(p.knobs.items())) for p in pairs} == {
        (("drive", d), ("level", lv)) for d in (0.0, 1.0) for lv in (0.0, 1.0)
    }
    loud = soundfile.read(grid / "D100L100" / "D100L100.pb_chain.target.wav")[0]
    quiet = soundfile.read(grid / "D000L000" / "D000L000.pb_chain.target.wav")[0]
    assert np.sqrt(np.mean(loud**2)) > 10 * np.sqrt(np.mean(quiet**2))
    assert json.loads((grid / "card.json").read_text())["targets"]["D100L000"]["3.drive_db"] == 30.0


def test_bad_requests_name_the_problem(tmp_path):
    with pytest.raises(capture.CaptureError, match="unknown device"):
        capture.capture_device("big_muff", tmp_path)
    with pytest.raises(capture.CaptureError, match="has no setting"):
        capture.capture_grid("pb_chain", tmp_path, {"D": ("drive", 0, 1)}, 2, audio=_guitarish())
    with pytest.raises(capture.CaptureError, match="steps >= 2"):
        capture.capture_grid("pb_chain", tmp_path, {"D": ("3.drive_db", 0, 1)}, 1)
    with pytest.raises(capture.CaptureError, match="finite"):
        capture.capture_device("pb_chain", tmp_path, audio=np.full(100, np.nan))
    with pytest.raises(SystemExit):
        capture.main(["grid", "pb_chain", "--knob", "drive"])


@pytest.mark.skipif(shutil.which("sox") is None or not Path(capture.LADSPA_PATH, "caps.so").is_file(), reason="sox and caps not installed")
def test_sox_ladspa_device_runs():
    x = _guitarish()
    y, latency = capture.DEVICES["amp_vts_cab"].process(x[None])
    assert y.shape == (1, x.size) and np.isfinite(y).all() and np.abs(y).max() > 1e-3 and latency == 0


@pytest.mark.skipif(shutil.which("pkg-config") is None or shutil.which("lv2ls") is None, reason="liblilv / LV2 plugins not installed")
def test_lv2_host_matches_lv2apply_on_the_ts9(tmp_path):
    """The block host against lilv's own one-sample host: the TS9 gives exactly the same samples."""
    import subprocess

    uri = capture.DEVICES["ts9"].target
    if uri not in subprocess.run(["lv2ls"], capture_output=True, text=True).stdout or shutil.which("lv2apply") is None:
        pytest.skip("guitarix-lv2 or lv2apply missing")
    x = _guitarish(0.25)
    y, _ = capture.DEVICES["ts9"].process(x[None])
    soundfile.write(tmp_path / "in.wav", x, RATE, subtype="FLOAT")
    command = ["lv2apply", "-i", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav")]
    for symbol, value in capture.DEVICES["ts9"].settings.items():
        command += ["-c", symbol, str(value)]
    subprocess.run([*command, uri], check=True, capture_output=True)
    reference = soundfile.read(tmp_path / "out.wav", dtype="float32")[0]
    np.testing.assert_allclose(y[0], reference, rtol=0, atol=1e-7)
