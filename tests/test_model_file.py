"""The model file: bit-exact round trips, and every way a file can be wrong rejected clearly."""

import json
import struct

import pytest
import torch
from processor_checks import perturbed
from safetensors.torch import save_file

from ddsp_kit.chain import Chain, Parallel
from ddsp_kit.export import FORMAT, ModelFileError, load_model, read_header, save_model
from ddsp_kit.models import TCN, RecurrentModel, S4DModel
from ddsp_kit.processors import (
    Asymmetric,
    Biquad,
    Chebyshev,
    Compressor,
    DCBlocker,
    DCOffset,
    DryWet,
    Expander,
    FIRFilter,
    Gain,
    HardClip,
    Limiter,
    LPCFilter,
    MLPWaveshaper,
    NoiseGate,
    OnePole,
    Pan,
    ParametricEQ,
    Polarity,
    Processor,
    Rational,
    StateVariableFilter,
    Tanh,
)

FS = 48000

MODELS = {
    "biquad": lambda: Biquad(FS, "lowshelf", 200.0, 0.9, -4.0),
    "peq": lambda: ParametricEQ(FS, bands=2, shelves=False, peak2_q=3.0),
    "svf": lambda: StateVariableFilter(FS, "bandpass", 500.0, 5.0),
    "one_pole": lambda: OnePole(FS, "highpass", 80.0),
    "dc_blocker": lambda: DCBlocker(FS),
    "fir": lambda: FIRFilter(FS, torch.randn(1, 100)),
    "lpc": lambda: LPCFilter(FS, order=4, k1=0.3),
    "compressor": lambda: Compressor(FS, detector="rms", lookahead_ms=1.0, link="max"),
    "limiter": lambda: Limiter(FS),
    "expander": lambda: Expander(FS, smoothing="level"),
    "gate": lambda: NoiseGate(FS),
    "tanh": lambda: Tanh(FS, 6.0),
    "hard_clip": lambda: HardClip(FS, oversampling=4),
    "asymmetric": lambda: Asymmetric(FS, bias=0.3),
    "chebyshev": lambda: Chebyshev(FS, order=4),
    "rational": lambda: Rational(FS),
    "mlp": lambda: MLPWaveshaper(FS),
    "gain": lambda: Gain(FS, -3.0),
    "dc_offset": lambda: DCOffset(FS, 0.1),
    "polarity": lambda: Polarity(FS),
    "pan": lambda: Pan(FS, 0.4),
    "dry_wet": lambda: DryWet(HardClip(FS, oversampling=2), 0.3),
    "chain": lambda: Chain(ParametricEQ(FS, 1), Chain(Compressor(FS), Tanh(FS)), Parallel(Gain(FS), OnePole(FS), gains_db=[-3.0, 1.0])),
}


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_is_bit_exact(name, tmp_path):
    model = perturbed(MODELS[name]())
    path = save_model(model, tmp_path / f"{name}.safetensors")
    loaded = load_model(path)
    assert type(loaded) is type(model)
    for (key, a), (key2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert key == key2 and torch.equal(a, b)
    x = torch.randn(2, 1, 300, generator=torch.Generator().manual_seed(1))
    assert torch.equal(model(x).audio, loaded(x).audio)
    header = read_header(path)
    assert header["format"] == FORMAT and header["sample_rate"] == FS and header["latency"] == model.latency


def test_float64_models_come_back_in_float64(tmp_path):
    model = perturbed(Chain(Biquad(FS, "peak"), Compressor(FS))).double()
    loaded = load_model(save_model(model, tmp_path / "double.safetensors"))
    x = torch.randn(1, 1, 200, dtype=torch.float64)
    assert torch.equal(model(x).audio, loaded(x).audio)
    mixed = Gain(FS)
    mixed.raw["gain_db"].data = mixed.raw["gain_db"].data.double()
    with pytest.raises(ModelFileError, match="mixes floating dtypes"):
        save_model(Chain(mixed, Gain(FS)), tmp_path / "mixed.safetensors")


def test_the_file_is_safetensors_with_a_json_header(tmp_path):
    path = save_model(Gain(FS, -6.0), tmp_path / "gain.safetensors")
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    document = json.loads(header["__metadata__"]["ddsp_kit"])
    assert document["model"] == {"type": "Gain", "args": {"sample_rate": FS, "gain_db": -6.0}}
    assert document["parameters"]["gain_db"]["unit"] == "dB"


def write_raw(path, header: dict, tensors=None):
    save_file(tensors or {"raw.gain_db": torch.zeros(())}, str(path), metadata={"ddsp_kit": json.dumps(header)})


def valid_header():
    return {
        "format": FORMAT, "version": "1.0.0", "sample_rate": FS, "latency": 0, "num_knobs": 0,
        "parameters": {}, "model": {"type": "Gain", "args": {"sample_rate": FS, "gain_db": 0.0}},
    }


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_bytes(b""), "not a readable model file"),
        (lambda p: p.write_bytes(b"\x93NUMPY garbage" * 10), "not a readable model file"),
        (lambda p: p.write_bytes(b"\x80\x04\x95 pickled"), "not a readable model file"),
        (lambda p: save_file({"w": torch.zeros(2)}, str(p)), "without a ddsp_kit header"),
        (lambda p: write_raw(p, {**valid_header(), "format": "other.model"}), "format 'other.model'"),
        (lambda p: write_raw(p, {**valid_header(), "version": "2.0.0"}), "format version 2.0.0"),
        (lambda p: write_raw(p, {**valid_header(), "version": "one"}), "unreadable version"),
        (lambda p: write_raw(p, {**valid_header(), "model": {"type": "os.system", "args": {}}}), "unknown block type"),
        (lambda p: write_raw(p, {**valid_header(), "model": {"type": "Gain", "args": {"sample_rate": FS, "gain_db": 99.0}}}), "cannot rebuild Gain"),
        (lambda p: write_raw(p, {**valid_header(), "model": {"type": "Gain", "args": {"rate": 1}}}), "takes no argument"),
        (lambda p: write_raw(p, valid_header(), {"raw.other": torch.zeros(())}), "do not match the structure"),
        (lambda p: write_raw(p, valid_header(), {"raw.gain_db": torch.zeros(3)}), "the structure wants"),
    ],
)
def test_bad_files_are_rejected_clearly(tmp_path, write, message):
    path = tmp_path / "bad.safetensors"
    write(path)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_truncated_file_is_rejected(tmp_path):
    path = save_model(FIRFilter(FS, torch.randn(4096)), tmp_path / "fir.safetensors")
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) - 7):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load_model(path)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.safetensors")


class Opaque(Processor):
    def __init__(self, sample_rate, transform=None):
        super().__init__(sample_rate, [])
        self.transform = transform

    def process(self, x, params, state):
        return x, {}


def test_save_refuses_what_it_cannot_write_and_leaves_no_file(tmp_path):
    with pytest.raises(ModelFileError, match="function"):
        save_model(Opaque(FS, transform=len), tmp_path / "opaque.safetensors")
    broken = Gain(FS)
    with torch.no_grad():
        broken.raw["gain_db"].fill_(float("nan"))
    with pytest.raises(ModelFileError, match="NaN"):
        save_model(broken, tmp_path / "broken.safetensors")
    with pytest.raises(TypeError, match="must be a Processor"):
        save_model(torch.nn.Linear(1, 1), tmp_path / "linear.safetensors")
    assert list(tmp_path.iterdir()) == []


BLACK_BOXES = {
    "lstm_film": lambda: RecurrentModel(FS, hidden=8, num_knobs=2, modulation="film"),
    "gru": lambda: RecurrentModel(FS, hidden=8, cell="gru", residual=True),
    "tcn_tfilm": lambda: TCN(FS, channels=4, blocks=3, num_knobs=2, modulation="tfilm"),
    "s4d": lambda: S4DModel(FS, channels=4, layers=2, state_size=8, num_knobs=2, modulation="film"),
}


@pytest.mark.parametrize("name", BLACK_BOXES)
def test_black_box_round_trip_is_bit_exact(name, tmp_path):
    model = perturbed(BLACK_BOXES[name]())
    loaded = load_model(save_model(model, tmp_path / f"{name}.safetensors"))
    x = torch.randn(2, 1, 300, generator=torch.Generator().manual_seed(1))
    extra = {"knobs": torch.tensor([[0.2, 0.9], [0.6, 0.1]])} if model.num_knobs else {}
    assert torch.equal(model(x, **extra).audio, loaded(x, **extra).audio)


def test_a_fresh_process_loads_chains_and_presets_from_the_export_module_alone(tmp_path):
    """load_model registers every block class itself (a script importing only ddsp_kit.export must work)."""
    import subprocess
    import sys

    from ddsp_kit.models import pedals

    path = save_model(pedals(16000), tmp_path / "pedals.safetensors")
    code = f"from ddsp_kit.export import load_model; print(type(load_model({str(path)!r})).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Chain"
