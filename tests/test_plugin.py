"""The plugins in real hosts: the VST3 in pedalboard, the LV2 in lv2file (the per-model build) and in
``datasets/lv2host`` (the player, whose model is an LV2 state), the CLAP in plugins/tools/clap_host.

Both flavours are built here: the generic player (the model file is a state, a file path) and a per-model
build with the model embedded and its knobs as named parameters. In each host: the output equals the
Python model's (1e-5), a knob (automated by the host) changes the sound and lands on the Python model with
the new value once its glide settles, the reported latency is compensated (impulse test), and a corrupt or
foreign model file leaves the host running with the plugin in bypass.

Needs cmake, g++, libeigen3-dev, nlohmann-json3-dev, dpf-source, lv2file, liblilv-dev, lv2-dev, pkg-config and
pedalboard (``.ci/run`` installs them); skips without them on a developer machine, fails in CI.
"""

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ddsp_kit.chain import Chain
from ddsp_kit.export import export_engine
from ddsp_kit.export.build import BuildError, build, build_plugin
from ddsp_kit.models import presets
from ddsp_kit.processors import Compressor, Gain, ParametricEQ, Tanh

ROOT = Path(__file__).resolve().parent.parent
RATE = 48000
TOLERANCE = 1e-5
SETTLED = 1e-4  # after a knob's glide (20 ms time constant), 0.4 s later


def _skip_or_fail(reason):
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _model():
    """EQ -> look-ahead compressor -> drive -> tanh -> gain: latency, state and a knob that matters."""
    model = Chain(
        ParametricEQ(RATE, bands=1, peak1_gain_db=4.0),
        Compressor(RATE, threshold_db=-25.0, ratio=4.0, lookahead_ms=1.0),
        Gain(RATE, 9.0),
        Tanh(RATE),
        Gain(RATE, -4.0),
    )
    return model


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    model = _model()
    engine = export_engine(model, folder / "model.engine.safetensors", knobs=["drive=2:gain_db", "level=4:gain_db"], name="Test Drive")
    try:
        build_dir = build(["ddsp_kit_player-all", "clap_host"])
        embedded = build_plugin(engine, "Test Drive", folder / "embedded")
    except BuildError as error:
        _skip_or_fail(f"cannot build the plugins here: {error}")
    player = {kind: build_dir / "bin" / f"ddsp_kit_player.{kind}" for kind in ("lv2", "vst3", "clap")}
    return {"model": model, "engine": engine, "player": player, "embedded": embedded, "clap_host": build_dir / "clap_host", "folder": folder}


def _signal(samples=24000, seed=0):
    rng = np.random.default_rng(seed)
    x = 0.3 * rng.standard_normal((2, samples))
    x[:, : samples // 3] *= 0.05
    return x.astype(np.float32)


def _python(model, x, **values):
    """The model (float64) on stereo x, with block parameters set by ``{"path:name": value}``."""
    reference = copy.deepcopy(model).double()
    with torch.no_grad():
        for key, value in values.items():
            path, name = key.split(":")
            block = reference.blocks[int(path)]
            block.raw[name].copy_(block.to_raw(name, value))
        return reference(torch.from_numpy(x).double()[:, None]).audio[:, 0].numpy()


# --------------------------------------------------------------------------------- VST3 in pedalboard

def _pedalboard():
    try:
        import pedalboard
    except ImportError:
        _skip_or_fail("pedalboard is not installed (pip install -e '.[dev]')")
    return pedalboard


_JUCE_BASE64 = ".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"


def _set_player_model(plugin, path):
    """Set the VST3 player's ``model`` state through pedalboard's raw state: ``VC2!``, the XML's byte count
    (int32), then the XML holding the DPF key/value stream as JUCE's base64 (``<size>.<6-bit digits, LSB first>``)."""
    state = plugin.raw_state
    match = re.search(rb"<IComponent>(\d+)\.([^<]*)</IComponent>", state)
    size, digits = int(match.group(1)), match.group(2).decode()
    blob = sum(_JUCE_BASE64.index(c) << (6 * i) for i, c in enumerate(digits)).to_bytes(size, "little")
    start = blob.index(b"model\x00") + len(b"model\x00")
    blob = blob[:start] + str(path).encode() + blob[blob.index(b"\x00", start) :]
    number = int.from_bytes(blob, "little")
    encoded = "".join(_JUCE_BASE64[(number >> (6 * i)) & 63] for i in range((len(blob) * 8 + 5) // 6))
    changed = state[: match.start(1)] + f"{len(blob)}.{encoded}".encode() + state[match.end(2) :]
    count = int.from_bytes(state[4:8], "little") + len(changed) - len(state)
    plugin.raw_state = changed[:4] + count.to_bytes(4, "little") + changed[8:]


def _wait_for(plugin, x, expected):
    """Process until the player's output is ``expected`` (the worker thread loads, the audio thread swaps).
    pedalboard does not refresh output parameters, so the status is read in the CLAP tests instead."""
    for _ in range(300):
        y = plugin.process(x, RATE, buffer_size=512, reset=True)
        if y.shape == expected.shape and float(np.abs(y - expected).max()) <= TOLERANCE:
            break
        time.sleep(0.01)
    return y


def test_vst3_per_model_in_pedalboard(built):
    pedalboard = _pedalboard()
    plugin = pedalboard.load_plugin(str(built["embedded"]["vst3"]))
    assert plugin.name == "Test Drive"
    assert {"drive_db", "level_db", "bypass"} <= set(plugin.parameters)
    x = _signal()
    y = plugin.process(x, RATE, buffer_size=512, reset=True)
    expected = _python(built["model"], x)
    # pedalboard compensates the reported latency (48 samples of look-ahead): compare with the model shifted.
    latency = 48
    assert float(np.abs(y[:, : -latency] - expected[:, latency:]).max()) <= TOLERANCE

    plugin.drive_db = 21.0  # the host moves the knob: it glides there
    y2 = plugin.process(x, RATE, buffer_size=512, reset=True)
    driven = _python(built["model"], x, **{"2:gain_db": 21.0})
    assert float(np.abs(y2 - y).max()) > 0.05
    assert float(np.abs(y2[:, -4800 - latency : -latency] - driven[:, -4800:]).max()) <= SETTLED


def test_vst3_impulse_latency_is_compensated(built):
    pedalboard = _pedalboard()
    plugin = pedalboard.load_plugin(str(built["embedded"]["vst3"]))
    impulse = np.zeros((2, 4800), np.float32)
    impulse[:, 1000] = 0.01
    y = plugin.process(impulse, RATE, buffer_size=128, reset=True)
    assert int(np.argmax(np.abs(y[0]))) == 1000  # 48 samples reported, 48 compensated


def test_vst3_player_loads_swaps_and_refuses_models(built, tmp_path):
    pedalboard = _pedalboard()
    plugin = pedalboard.load_plugin(str(built["player"]["vst3"]))
    x = _signal()
    assert plugin.status == 0
    dry = plugin.process(x, RATE, buffer_size=512, reset=True)
    np.testing.assert_array_equal(dry, x)  # no model: bypass

    _set_player_model(plugin, built["engine"])
    expected = _python(built["model"], x)  # macros at 0.5 are the trained values
    shifted = np.concatenate([expected[:, 48:], np.zeros((2, 48))], 1)  # pedalboard compensates the latency
    y = _wait_for(plugin, x, shifted)
    assert float(np.abs(y[:, :-48] - expected[:, 48:]).max()) <= TOLERANCE

    other = presets.overdrive(RATE)
    second = export_engine(other, tmp_path / "other.engine.safetensors")
    _set_player_model(plugin, second)
    swapped = _wait_for(plugin, x, _python(other, x))
    assert float(np.abs(swapped - _python(other, x)).max()) <= TOLERANCE

    corrupt = tmp_path / "corrupt.engine.safetensors"
    corrupt.write_bytes(second.read_bytes()[:-100])
    _set_player_model(plugin, corrupt)
    time.sleep(0.3)  # the worker refuses it; the host runs on and the last good model keeps playing
    kept = plugin.process(x, RATE, buffer_size=512, reset=True)
    assert float(np.abs(kept - _python(other, x)).max()) <= TOLERANCE


# --------------------------------------------------------------------------------- LV2 in lv2file

def _lv2file(bundle, x, tmp_path, parameters=()):
    if shutil.which("lv2file") is None:
        _skip_or_fail("lv2file is not installed (apt-get install lv2file)")
    import soundfile

    lv2_path = tmp_path / "lv2"
    lv2_path.mkdir(exist_ok=True)
    if not (lv2_path / bundle.name).exists():
        shutil.copytree(bundle, lv2_path / bundle.name)
    soundfile.write(tmp_path / "x.wav", x.T, RATE, subtype="FLOAT")
    command = ["lv2file", "-i", str(tmp_path / "x.wav"), "-o", str(tmp_path / "y.wav"), "-b", "256"]
    for parameter in parameters:
        command += ["-p", parameter]
    command.append("urn:ddsp-kit:model:test_drive")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "LV2_PATH": str(lv2_path)})
    assert result.returncode == 0, result.stderr
    return soundfile.read(tmp_path / "y.wav", dtype="float32")[0].T


def test_lv2_per_model_in_lv2file(built, tmp_path):
    x = _signal()
    y = _lv2file(built["embedded"]["lv2"], x, tmp_path)
    expected = _python(built["model"], x)
    assert float(np.abs(y - expected).max()) <= TOLERANCE  # lv2file does not compensate latency
    driven = _lv2file(built["embedded"]["lv2"], x, tmp_path, ["k1_drive:21"])
    assert float(np.abs(driven - y).max()) > 0.05
    target = _python(built["model"], x, **{"2:gain_db": 21.0})
    assert float(np.abs(driven[:, -4800:] - target[:, -4800:]).max()) <= SETTLED


# --------------------------------------------------------------------------------- LV2 player in lv2host

def _lv2host_player(built, x, tmp_path, model=None):
    """The player LV2 in ``datasets/lv2host`` (a lilv host offering worker:schedule, which DPF's LV2 needs for
    a state, and state:interface): the model path restored as the player's state before the first block,
    then a second for the player's loader thread. Returns (output, the host's JSON line, stderr)."""
    spec = importlib.util.spec_from_file_location("capture", ROOT / "datasets" / "capture.py")
    capture = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("capture", capture)  # dataclasses resolve their module by name
    spec.loader.exec_module(capture)
    try:
        binary = capture.lv2host_binary()
    except capture.CaptureError as error:
        _skip_or_fail(str(error))
    lv2_path = tmp_path / "lv2"
    if not (lv2_path / built["player"]["lv2"].name).exists():
        shutil.copytree(built["player"]["lv2"], lv2_path / built["player"]["lv2"].name)
    source, target = tmp_path / "x.f32", tmp_path / "y.f32"
    np.ascontiguousarray(x.T, dtype="<f4").tofile(source)
    command = [str(binary), "urn:ddsp-kit:player", str(source), str(target), "--rate", str(RATE), "--in-channels", "2", "--block", "300"]
    if model is not None:
        command += ["--state-path", f"urn:ddsp-kit:player#model={model}", "--wait-ms", "1000"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "LV2_PATH": str(lv2_path)})
    assert result.returncode == 0, result.stderr
    output = np.fromfile(target, dtype="<f4").reshape(-1, 2).T
    return output, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_lv2_player_in_lv2host_loads_and_refuses_models(built, tmp_path):
    x = _signal()
    y, info, _ = _lv2host_player(built, x, tmp_path, built["engine"])
    assert info["controls"]["status"] == 1 and info["latency"] == 48
    assert float(np.abs(y - _python(built["model"], x)).max()) <= TOLERANCE  # lv2host does not compensate latency

    dry, info, _ = _lv2host_player(built, x, tmp_path)  # no model yet: bypass
    assert info["controls"]["status"] == 0 and info["latency"] == 0
    np.testing.assert_array_equal(dry, x)

    corrupt = tmp_path / "corrupt.engine.safetensors"
    corrupt.write_bytes(built["engine"].read_bytes()[:-100])
    refused, info, stderr = _lv2host_player(built, x, tmp_path, corrupt)
    assert info["controls"]["status"] == 2 and "refused" in stderr  # the host runs on, the plugin in bypass
    np.testing.assert_array_equal(refused, x)


# --------------------------------------------------------------------------------- CLAP in clap_host

def _clap(built, plugin, x, tmp_path, model=None, params=(), info=False):
    source, target = tmp_path / "x.f32", tmp_path / "y.f32"
    x.astype(np.float32).tofile(source)
    command = [str(built["clap_host"]), str(plugin), "--in", str(source), "--out", str(target), "--block", "200"]
    command += ["--model", str(model)] if model else []
    for param in params:
        command += ["--param", param]
    command += ["--info"] if info else []
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    output = np.fromfile(target, dtype=np.float32).reshape(x.shape)
    return output, (json.loads(result.stdout) if info else None), result.stderr


def test_clap_player_in_clap_host(built, tmp_path):
    x = _signal()
    y, info, _ = _clap(built, built["player"]["clap"], x, tmp_path, model=built["engine"], info=True)
    assert info["latency"] == 48
    status = next(p for p in info["parameters"] if p["name"] == "Status")
    assert status["value"] == 1
    assert float(np.abs(y - _python(built["model"], x)).max()) <= TOLERANCE  # the host sees the raw, delayed output

    # Macro 1 drives the first knob (drive): 0.5 is the trained 9 dB, 1.0 the top of its range (24 dB).
    automated, _, _ = _clap(built, built["player"]["clap"], x, tmp_path, model=built["engine"], params=["1=1.0@12000"])
    np.testing.assert_allclose(automated[:, :12000], y[:, :12000], atol=TOLERANCE)
    top = _python(built["model"], x, **{"2:gain_db": 24.0})
    # Settled 0.2 s after the change (the glide, then the compressor's 100 ms release memory).
    assert float(np.abs(automated[:, -2400:] - top[:, -2400:]).max()) <= SETTLED


def test_clap_impulse_and_per_model_parameters(built, tmp_path):
    impulse = np.zeros((2, 2400), np.float32)
    impulse[:, 500] = 0.01
    y, info, _ = _clap(built, built["embedded"]["clap"], impulse, tmp_path, info=True)
    assert info["latency"] == 48 and int(np.argmax(np.abs(y[0]))) == 500 + info["latency"]
    names = [p["name"] for p in info["parameters"]]
    assert names == ["Bypass", "drive", "level", "Status"]
    drive = info["parameters"][1]
    assert (drive["min"], drive["max"], drive["default"]) == (-60.0, 24.0, pytest.approx(9.0, abs=1e-4))


@pytest.mark.parametrize("content", ["missing", "truncated", "foreign", "text"])
def test_clap_player_survives_bad_model_files(built, tmp_path, content):
    path = tmp_path / "bad.engine.safetensors"
    data = built["engine"].read_bytes()
    if content == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif content == "foreign":
        from ddsp_kit.export import save_model

        save_model(presets.overdrive(RATE), path)  # a model file, not an engine file
    elif content == "text":
        path.write_text("not a model")
    x = _signal(4800)
    y, info, stderr = _clap(built, built["player"]["clap"], x, tmp_path, model=path, info=True)
    assert next(p for p in info["parameters"] if p["name"] == "Status")["value"] == 2
    assert "model refused, plugin stays in bypass" in stderr
    np.testing.assert_array_equal(y, x)
