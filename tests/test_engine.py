"""The C++ engine (plugins/) against the Python models it was exported from.

Every supported block and preset, with parameters moved off their defaults, runs through
``ddsp_kit_run`` at block sizes 1, 7, 64, 512 and 4096 and must match the Python model (run in
float64) within 1e-5 absolute, with zero heap allocations while processing. Also: designs recomputed at
another sample rate, knobs (set and automated), stereo, latency, refused blocks, corrupt and foreign files,
and a time-bounded fuzz of the loader under AddressSanitizer.

The engine needs cmake, g++, libeigen3-dev and nlohmann-json3-dev (``.ci/run`` installs them). Without
them these tests skip on a developer machine and fail in CI (``CI`` set).
"""

import copy
import json
import math
import os
import struct
import subprocess

import numpy as np
import pytest
import torch

from ddsp_kit.chain import Chain, Parallel
from ddsp_kit.controllers import Controlled, TimeVaryingController
from ddsp_kit.export import ModelFileError, engine_knobs, export_engine, read_engine_header, save_model
from ddsp_kit.export.build import BuildError, build
from ddsp_kit.models import presets
from ddsp_kit.models.recurrent import RecurrentModel
from ddsp_kit.models.ssm import S4DModel
from ddsp_kit.models.tcn import TCN
from ddsp_kit.processors import (
    Asymmetric,
    Biquad,
    Chebyshev,
    Compressor,
    ConvolutionReverb,
    DCBlocker,
    Expander,
    FeedbackDelayNetwork,
    FIRFilter,
    Gain,
    HardClip,
    Limiter,
    MLPWaveshaper,
    NoiseGate,
    NoiseReverb,
    OnePole,
    ParametricEQ,
    Rational,
    Tanh,
)

RATE = 48000
SAMPLES = 12000
BLOCK_SIZES = (1, 7, 64, 512, 4096)
# Double-precision designs and state on both sides; the shapers and nets run in float32 in the engine
# (measured: at most 1.2e-6 at a peak of 19 for the amp preset, 3e-7 elsewhere).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def tools():
    try:
        folder = build(["ddsp_kit_run", "ddsp_kit_fuzz"])
    except BuildError as error:
        if os.environ.get("CI"):
            pytest.fail(f"the engine must build in CI: {error}")
        pytest.skip(f"cannot build the engine here: {error}")
    return {"run": str(folder / "ddsp_kit_run"), "fuzz": str(folder / "ddsp_kit_fuzz")}


def _moved(model, seed=0, scale=0.4):
    """The model with every parameter moved randomly off its initial value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model


def _signal(channels, samples=SAMPLES, seed=1):
    """Noise with a level step (quiet then loud) and a burst of silence: moves dynamics both ways."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(channels, samples, generator=generator)
    envelope = torch.ones(samples)
    envelope[: samples // 3] = 0.02
    envelope[2 * samples // 3 : 2 * samples // 3 + 600] = 0.0
    return (0.5 * x * envelope).float()


def _python(model, x, knobs=None):
    reference = copy.deepcopy(model).double()
    extra = {"knobs": torch.tensor([knobs], dtype=torch.float64)} if knobs is not None else {}
    with torch.no_grad():
        return reference(x[None].double(), **extra).audio[0].numpy()


def _engine(tools, path, x, block=512, rate=None, knobs=(), channels=None, tmp=None):
    """Run ``ddsp_kit_run``; returns (output (channels, samples), allocation count)."""
    x = np.asarray(x, dtype=np.float32)
    source, target = os.path.join(tmp, "x.f32"), os.path.join(tmp, "y.f32")
    x.tofile(source)
    command = [tools["run"], str(path), "--in", source, "--out", target, "--block", str(block), "--count-allocations"]
    command += ["--channels", str(channels or x.shape[0])] + (["--rate", str(rate)] if rate else [])
    for knob in knobs:
        command += ["--knob", knob]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    allocations = int(result.stderr.split("allocations:")[1].split()[0])
    return np.fromfile(target, dtype=np.float32).reshape(x.shape), allocations


CASES = {
    "overdrive": lambda: presets.overdrive(RATE, shaper="asymmetric"),
    "overdrive_feedback_clipper": lambda: presets.overdrive(RATE, shaper="asymmetric", topology="feedback-clipper"),
    "compressor_lsp_style": lambda: presets.compressor(RATE, bands=1, detector="rms", smoothing="level"),
    "compressor": lambda: presets.compressor(RATE),
    "pedals": lambda: presets.pedals(RATE, shaper="rational"),
    "amp": lambda: presets.amp(RATE, cabinet_taps=256),
    "hybrid": lambda: presets.hybrid(RATE, "overdrive"),
    "biquads": lambda: Chain(*(Biquad(RATE, kind, 300.0 * (i + 1), 0.9, 4.0) for i, kind in enumerate(
        ("lowpass", "highpass", "bandpass", "notch", "allpass", "peak", "lowshelf", "highshelf")))),
    "one_poles": lambda: Chain(OnePole(RATE, "lowpass", 3000.0), OnePole(RATE, "highpass", 80.0), DCBlocker(RATE)),
    "eq": lambda: ParametricEQ(RATE, bands=4),
    "shapers": lambda: Chain(Tanh(RATE, 6.0), HardClip(RATE, 0.3, 3.0), Asymmetric(RATE, 0.3), Rational(RATE, (1.0, 0.2, 0.3), (1.0, 0.0, 0.5))),
    "shapers_oversampled": lambda: Chain(Tanh(RATE, 12.0, oversampling=2), HardClip(RATE, 0.2, 6.0, oversampling=4),
                                         Asymmetric(RATE, 0.2, 9.0, oversampling=8)),
    "chebyshev": lambda: Chebyshev(RATE, order=5, harmonics=[0.8, 0.3, 0.2, -0.1, 0.05], input_gain_db=3.0),
    "mlp_shaper": lambda: Chain(MLPWaveshaper(RATE, hidden=16, input_gain_db=6.0), MLPWaveshaper(RATE, hidden=8, oversampling=2)),
    "compressor_rms_level": lambda: Compressor(RATE, -30.0, 6.0, detector="rms", smoothing="level", lookahead_ms=2.0),
    "limiter": lambda: Limiter(RATE, lookahead_ms=1.0),
    "expander_gate": lambda: Chain(Expander(RATE), NoiseGate(RATE)),
    "parallel_latency": lambda: Parallel(Compressor(RATE, lookahead_ms=1.5), Gain(RATE, -3.0), Tanh(RATE, 3.0), gains_db=[0.0, -6.0, -3.0]),
    "lstm": lambda: RecurrentModel(RATE, hidden=32, residual=True),
    "gru_two_layers": lambda: RecurrentModel(RATE, hidden=12, cell="gru", layers=2),
    "reverb_fdn": lambda: presets.reverb(RATE, kind="fdn"),
    "reverb_noise": lambda: presets.reverb(RATE, kind="noise"),
    "fdn_learnable_hadamard": lambda: Chain(FeedbackDelayNetwork(RATE, lines=4, mixing="learnable", rt60_low=0.4, mix=0.6),
                                            FeedbackDelayNetwork(RATE, lines=4, mixing="hadamard", crossover=500.0)),
    "convolution_short_and_long": lambda: Chain(ConvolutionReverb(RATE, torch.tensor([0.5, 0.0, 0.25, -0.1]), mix=0.7),
                                                ConvolutionReverb(RATE, duration=0.3, decay=0.2, mix=0.5)),
    "tcn": lambda: TCN(RATE, channels=8, blocks=4, kernel_size=5, dilation_growth=3),
    "tcn_no_bias_wide_input": lambda: Chain(Gain(RATE, 3.0), TCN(RATE, channels=6, blocks=3, kernel_size=3, bias=False, stack_size=2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_matches_python_at_every_block_size(tools, tmp_path, name):
    model = _moved(CASES[name]())
    path = export_engine(model, tmp_path / f"{name}.engine.safetensors", knobs=[])
    x = _signal(1)
    expected = _python(model, x)
    for block in BLOCK_SIZES:
        y, allocations = _engine(tools, path, x, block, tmp=tmp_path)
        assert allocations == 0, f"{name}: {allocations} allocations while processing in blocks of {block}"
        error = float(np.abs(y - expected).max())
        assert error <= TOLERANCE, f"{name}, block {block}: max abs error {error:.2e}"


STEREO = {
    "linked_compressor": lambda: Compressor(RATE, -35.0, 8.0, link="max", lookahead_ms=0.5),
    "mean_linked_rms": lambda: Compressor(RATE, -30.0, 3.0, detector="rms", link="mean"),
    "fir_per_channel": lambda: FIRFilter(RATE, torch.randn(2, 96, generator=torch.Generator().manual_seed(3)) / 10),
    "stereo_lstm_with_knobs": lambda: RecurrentModel(RATE, hidden=16, in_channels=2, out_channels=2, num_knobs=2, residual=True),
    "pedals": lambda: presets.pedals(RATE),
    "stereo_noise_reverb": lambda: NoiseReverb(RATE, duration=0.2, crossovers=[500.0, 4000.0], mix=0.5),
    "convolution_per_channel": lambda: ConvolutionReverb(RATE, torch.randn(2, 700, generator=torch.Generator().manual_seed(2)) / 20, mix=0.8),
    "stereo_tcn": lambda: TCN(RATE, channels=4, blocks=3, kernel_size=3, in_channels=2, out_channels=2),
}


@pytest.mark.parametrize("name", sorted(STEREO))
def test_engine_matches_python_in_stereo(tools, tmp_path, name):
    model = _moved(STEREO[name](), seed=4)
    path = export_engine(model, tmp_path / "stereo.engine.safetensors", knobs=[], channels=2)
    x = _signal(2)
    knobs = [0.5] * model.num_knobs if model.num_knobs else None
    expected = _python(model, x, knobs)
    for block in (1, 64, 4096):
        y, allocations = _engine(tools, path, x, block, tmp=tmp_path)
        assert allocations == 0
        assert float(np.abs(y - expected).max()) <= TOLERANCE


def _assert_matches_at_knobs(tools, tmp_path, model, path, settings, blocks, relative=False):
    """The engine equals the Python model at each knob setting (None: no knobs) and block size, allocating nothing."""
    x = _signal(1)
    for knobs in settings:
        expected = _python(model, x, knobs)
        tolerance = TOLERANCE * (max(1.0, float(np.abs(expected).max())) if relative else 1.0)
        for block in blocks:
            y, allocations = _engine(tools, path, x, block, knobs=[f"{i}={v}" for i, v in enumerate(knobs or [])], tmp=tmp_path)
            assert allocations == 0
            error = float(np.abs(y - expected).max())
            assert error <= tolerance, (knobs, block, error)


TIME_VARYING = {
    "fuzz": lambda: presets.fuzz(RATE),
    "compressor": lambda: presets.compressor(RATE, control="time-varying"),
    "amp_tone_stack": lambda: presets.amp(RATE, control="time-varying", cabinet_taps=64),
    "overdrive_with_knobs": lambda: presets.overdrive(RATE, control="knobs+time-varying", num_knobs=2, shaper="rational"),
    "reverb_mix": lambda: presets.reverb(RATE, control="time-varying", kind="noise"),
    "filters": lambda: Chain(
        Controlled(ParametricEQ(RATE, bands=2), TimeVaryingController(96, hidden=8)),
        Controlled(OnePole(RATE, "lowpass", 2000.0), TimeVaryingController(50, hidden=4)),
        Controlled(Biquad(RATE, "lowpass", 900.0, 3.0), TimeVaryingController(128, hidden=4)),
    ),
}


@pytest.mark.parametrize("name", sorted(TIME_VARYING))
def test_time_varying_controllers(tools, tmp_path, name):
    """GRU controllers at frame rate, parameters ramped per sample (filters in the modal form): equal to Python."""
    model = _moved(TIME_VARYING[name](), seed=11, scale=0.5)
    path = export_engine(model, tmp_path / "tv.engine.safetensors", knobs=[])
    settings = ([0.5, 0.5], [0.2, 0.9]) if model.num_knobs else (None,)
    # Random moves push some outputs far above full scale (a peak of 65 for the compressor), where float32's
    # own spacing is 7.6e-6: there the tolerance scales with the peak.
    _assert_matches_at_knobs(tools, tmp_path, model, path, settings, (1, 100, 4096), relative=True)


@pytest.mark.parametrize("preset", ["overdrive", "compressor", "amp", "pedals"])
def test_knob_conditioned_presets(tools, tmp_path, preset):
    """KnobController MLPs run in the engine: equal to Python at the default knobs and at set ones."""
    kwargs = {"cabinet_taps": 64} if preset == "amp" else {}
    model = _moved(presets.PRESETS[preset](RATE, control="knobs", num_knobs=2, **kwargs), seed=8)
    path = export_engine(model, tmp_path / "k.engine.safetensors", knobs=[])
    assert [k["name"] for k in read_engine_header(path)["knobs"]] == ["knob1", "knob2"]
    _assert_matches_at_knobs(tools, tmp_path, model, path, ([0.5, 0.5], [0.1, 0.85]), (1, 333))


KNOB_NETS = {
    "tcn_film": lambda: TCN(RATE, channels=8, blocks=3, kernel_size=3, num_knobs=2, film_hidden=8),
    "lstm_film": lambda: RecurrentModel(RATE, hidden=12, num_knobs=2, modulation="film", concat_knobs=False),
    "gru_film_and_concat": lambda: RecurrentModel(RATE, hidden=8, cell="gru", num_knobs=2, modulation="film", film_hidden=4),
}


@pytest.mark.parametrize("name", sorted(KNOB_NETS))
def test_knob_conditioned_nets(tools, tmp_path, name):
    """FiLM (and concatenated knobs) in the engine: equal to Python at the default knobs and at set ones."""
    model = _moved(KNOB_NETS[name](), seed=9, scale=0.2)
    path = export_engine(model, tmp_path / "n.engine.safetensors")
    _assert_matches_at_knobs(tools, tmp_path, model, path, ([0.5, 0.5], [0.1, 0.85]), (1, 333))


def test_a_mono_net_runs_once_per_channel(tools, tmp_path):
    model = _moved(RecurrentModel(RATE, hidden=8), seed=5)
    path = export_engine(model, tmp_path / "mono.engine.safetensors", channels=2)
    x = _signal(2)
    y, _ = _engine(tools, path, x, 64, tmp=tmp_path)
    expected = np.concatenate([_python(model, x[c : c + 1]) for c in range(2)])
    assert float(np.abs(y - expected).max()) <= TOLERANCE


def _rebuilt_at(model_factory, trained, rate):
    """The same preset built at ``rate`` with the trained model's physical values (what the engine redesigns)."""
    other = model_factory(rate)
    for (name, block), (_, source) in zip(other.named_modules(), trained.named_modules()):
        if hasattr(block, "specs") and block.specs:
            values = {k: float(spec.to_physical(source.raw[k].detach().double())) for k, spec in source.specs.items()}
            with torch.no_grad():
                for key, value in values.items():
                    block.raw[key].copy_(block.specs[key].to_raw(min(value, block.specs[key].maximum)))
    return other


@pytest.mark.parametrize("preset", ["pedals", "compressor"])
def test_designs_are_recomputed_at_the_host_rate(tools, tmp_path, preset):
    """Exported at 48 kHz, run at 44.1 kHz: equals the model built at 44.1 kHz with the same physical values."""
    factory = presets.PRESETS[preset]
    trained = _moved(factory(RATE), seed=6, scale=0.3)
    path = export_engine(trained, tmp_path / "m.engine.safetensors", knobs=[])
    x = _signal(1)
    y, _ = _engine(tools, path, x, 128, rate=44100, tmp=tmp_path)
    expected = _python(_rebuilt_at(factory, trained, 44100), x)
    assert float(np.abs(y - expected).max()) <= TOLERANCE
    at_48k, _ = _engine(tools, path, x, 128, tmp=tmp_path)
    assert float(np.abs(at_48k - y).max()) > 1e-3  # the rate mattered: the redesign was not a no-op


def test_knobs_set_and_automated(tools, tmp_path):
    model = _moved(presets.overdrive(RATE), seed=7, scale=0.2)
    path = export_engine(model, tmp_path / "od.engine.safetensors", knobs=["drive=1:gain_db", "tone=3:high_shelf_gain_db"])
    header = read_engine_header(path)
    assert [k["name"] for k in header["knobs"]] == ["drive", "tone"]
    x = _signal(1, samples=48000)

    # A knob set before processing (a restored state): equals the Python model with that value.
    y, _ = _engine(tools, path, x, 256, knobs=["0=20.0", "1=-6.0"], tmp=tmp_path)
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.blocks[1].raw["gain_db"].copy_(changed.blocks[1].to_raw("gain_db", 20.0))
        changed.blocks[3].raw["high_shelf_gain_db"].copy_(changed.blocks[3].to_raw("high_shelf_gain_db", -6.0))
    assert float(np.abs(y - _python(changed, x)).max()) <= TOLERANCE

    # Automated at frame 24000: before, the default sound; after the glide (20 ms time constant), the new one.
    automated, allocations = _engine(tools, path, x, 100, knobs=["0=20.0@24000"], tmp=tmp_path)
    assert allocations == 0
    default = _python(model, x)
    drive_only = copy.deepcopy(model)
    with torch.no_grad():
        drive_only.blocks[1].raw["gain_db"].copy_(drive_only.blocks[1].to_raw("gain_db", 20.0))
    after = _python(drive_only, x)
    assert float(np.abs(automated[0, :24000] - default[0, :24000]).max()) <= TOLERANCE
    assert float(np.abs(automated[0, -4800:] - after[0, -4800:]).max()) <= 1e-4  # settled (~12 time constants)
    assert float(np.abs(automated[0, 24000:26000] - default[0, 24000:26000]).max()) > 0.01  # the knob changed the sound
    # No zipper: the glide's sample-to-sample steps stay within the signal's own.
    jump = np.abs(np.diff(automated[0, 23900:25500])).max()
    assert jump <= 1.5 * max(np.abs(np.diff(default[0])).max(), np.abs(np.diff(after[0])).max())


def test_info_reports_latency_knobs_and_golden_check(tools, tmp_path):
    model = Chain(Compressor(RATE, lookahead_ms=2.0), Gain(RATE, -1.0))
    path = export_engine(model, tmp_path / "c.engine.safetensors", knobs=["out=1:gain_db"], name="Comp")
    result = subprocess.run([tools["run"], str(path), "--info"], capture_output=True, text=True, timeout=60)
    info = json.loads(result.stdout)
    assert info["name"] == "Comp" and info["latency"] == 96 and info["channels"] == 1
    assert info["golden_max_error"] <= read_engine_header(path)["golden"]["tolerance"]
    assert [k["name"] for k in info["knobs"]] == ["out"] and info["rate_bound"] is False
    at_96k = subprocess.run([tools["run"], str(path), "--info", "--rate", "96000"], capture_output=True, text=True, timeout=60)
    assert json.loads(at_96k.stdout)["latency"] == 192  # lookahead in ms, redesigned at the host rate


def test_default_knobs_are_every_parameter():
    knobs = engine_knobs(presets.overdrive(RATE, bands=1))
    assert knobs[0]["name"] == "0:low_shelf_frequency" and knobs[0]["unit"] == "Hz" and knobs[0]["scale"] == "log"
    assert len(knobs) == sum(len(b.specs) for b in presets.overdrive(RATE, bands=1).modules() if hasattr(b, "specs"))
    with pytest.raises(ModelFileError, match="no parameter 'drive'"):
        engine_knobs(presets.overdrive(RATE), ["x=1:drive"])
    with pytest.raises(ModelFileError, match="no block at path '9'"):
        engine_knobs(presets.overdrive(RATE), ["x=9:gain_db"])
    with pytest.raises(ModelFileError, match="NAME=PATH:PARAMETER"):
        engine_knobs(presets.overdrive(RATE), ["gain_db"])
    with pytest.raises(ModelFileError, match="unique"):
        engine_knobs(presets.overdrive(RATE), ["a=1:gain_db", "a=0:peak1_q"])


def test_unsupported_blocks_are_refused_by_name(tmp_path):
    chain_source = Controlled(Gain(RATE), TimeVaryingController(64, source="chain"))
    with pytest.raises(ModelFileError, match="Controlled at 1: a TimeVaryingController reading 'chain'"):
        export_engine(Chain(Gain(RATE), chain_source), tmp_path / "f.engine.safetensors")
    with pytest.raises(ModelFileError, match="S4DModel at 1"):
        export_engine(Chain(Gain(RATE), S4DModel(RATE)), tmp_path / "s.engine.safetensors")
    with pytest.raises(ModelFileError, match="TCN at the model: modulation='tfilm'"):
        export_engine(TCN(RATE, num_knobs=1, modulation="tfilm"), tmp_path / "t.engine.safetensors")
    assert not list(tmp_path.iterdir())  # nothing written


def _rewrite_header(source, target, change):
    """Copy a safetensors file with its engine header changed by ``change(header)``."""
    data = open(source, "rb").read()
    length = struct.unpack("<Q", data[:8])[0]
    table = json.loads(data[8 : 8 + length])
    header = json.loads(table["__metadata__"]["ddsp_kit.engine"])
    change(header)
    table["__metadata__"]["ddsp_kit.engine"] = json.dumps(header)
    text = json.dumps(table).encode()
    text += b" " * (-len(text) % 8)
    open(target, "wb").write(struct.pack("<Q", len(text)) + text + data[8 + length :])


def test_corrupt_foreign_and_future_files_are_refused(tools, tmp_path):
    path = export_engine(presets.overdrive(RATE), tmp_path / "ok.engine.safetensors")
    data = path.read_bytes()
    save_model(presets.overdrive(RATE), tmp_path / "model.safetensors")
    bad = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "text": b"hello, not a model",
        "header_length": struct.pack("<Q", 1 << 40) + data[8:],
    }
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    _rewrite_header(path, tmp_path / "v2", lambda h: h.update(version="2.0.0"))
    _rewrite_header(path, tmp_path / "unknown_block", lambda h: h["model"]["blocks"][1].update(type="Flanger"))
    _rewrite_header(path, tmp_path / "no_sections", lambda h: h["model"]["blocks"][0].update(bands=[]))  # was a division by zero
    # A design parameter that disagrees with the golden pair (knobs cleared: their defaults would restore it).
    _rewrite_header(path, tmp_path / "wrong_golden", lambda h: h.update(knobs=[]) or h["model"]["blocks"][1]["params"].update(gain_db=3.0))
    expected = {
        "truncated": "outside the file", "empty": "too short", "text": "does not fit", "header_length": "does not fit",
        "model.safetensors": "without a ddsp_kit.engine header", "v2": "format version 2.0.0",
        "unknown_block": "'Flanger' is not known", "wrong_golden": "golden output", "no_sections": "at least one section",
    }
    for name, message in expected.items():
        result = subprocess.run([tools["run"], str(tmp_path / name), "--info"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (name, result.returncode, result.stderr)
        assert message in result.stderr, (name, result.stderr)
    with pytest.raises(ModelFileError, match="format version 2.0.0"):
        read_engine_header(tmp_path / "v2")
    with pytest.raises(ModelFileError, match="is not one of|Flanger"):
        read_engine_header(tmp_path / "unknown_block")


def test_loader_survives_fuzzing(tools, tmp_path):
    """Mutated files for a bounded time under AddressSanitizer/UBSan: refusals, never a crash or a hang."""
    seeds = [
        export_engine(presets.pedals(RATE), tmp_path / "a.engine.safetensors"),
        export_engine(presets.hybrid(RATE, "compressor"), tmp_path / "b.engine.safetensors"),
        export_engine(presets.amp(RATE, cabinet_taps=32), tmp_path / "c.engine.safetensors"),
        export_engine(Chain(presets.fuzz(RATE), NoiseReverb(RATE, duration=0.05), FeedbackDelayNetwork(RATE, lines=2)), tmp_path / "d.engine.safetensors"),
        export_engine(Chain(TCN(RATE, channels=4, blocks=2, num_knobs=1), Tanh(RATE, oversampling=2)), tmp_path / "e.engine.safetensors"),
    ]
    result = subprocess.run([tools["fuzz"], *map(str, seeds), "--seconds", "8", "--seed", "7"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout)
    assert counts["cases"] > 500 and counts["refused"] > 0


def test_export_command(tmp_path, capsys):
    from ddsp_kit.cli import main

    save_model(presets.compressor(RATE), tmp_path / "comp.safetensors")
    out = tmp_path / "comp.engine.safetensors"
    assert main(["export", str(tmp_path / "comp.safetensors"), "-o", str(out), "--knob", "threshold=1:threshold_db", "--name", "Comp"]) == 0
    assert "knobs: threshold [-80, 0] dB" in capsys.readouterr().out
    assert read_engine_header(out)["name"] == "Comp"
    save_model(Chain(Gain(RATE), S4DModel(RATE)), tmp_path / "ssm.safetensors")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tmp_path / "ssm.safetensors"), "-o", str(tmp_path / "s.engine.safetensors")])
    assert exit_info.value.code == 1 and "cannot run S4DModel at 1" in capsys.readouterr().err
