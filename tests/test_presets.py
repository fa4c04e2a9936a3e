"""Gray-box presets: every family and control mode builds, streams, learns, saves and reacts to knobs."""

import pytest
import torch

from ddsp_kit.export import load_model, save_model
from ddsp_kit.models import RecurrentModel, with_output_fir
from ddsp_kit.models.presets import CONTROLS, PRESETS
from processor_checks import assert_streams, perturbed

FS = 48000


def build(name, control):
    knobs = 2 if "knobs" in control else 0
    kwargs = {"cabinet_taps": 64} if name == "amp" else {"base": "amp", "hidden": 4} if name == "hybrid" else {}
    return PRESETS[name](FS, control=control, num_knobs=knobs, **kwargs), (torch.tensor([[0.2, 0.7]]) if knobs else None)


CASES = [(name, control) for name in PRESETS for control in CONTROLS]


@pytest.mark.parametrize("name, control", CASES)
def test_preset_streams_and_round_trips(name, control, tmp_path):
    model, knobs = build(name, control)
    check_streams_and_round_trip(model, knobs, tmp_path / f"{name}.safetensors")


@pytest.mark.parametrize("control", ["static", "knobs+time-varying"])
def test_tone_first_amp_streams_and_round_trips(control, tmp_path):
    knobs = 2 if "knobs" in control else 0
    model = PRESETS["amp"](FS, control=control, num_knobs=knobs, cabinet_taps=64, topology="tone-first")
    check_streams_and_round_trip(model, torch.tensor([[0.2, 0.7]]) if knobs else None, tmp_path / "amp.safetensors")


def check_streams_and_round_trip(model, knobs, path):
    model = perturbed(model, scale=0.1)
    x = 0.3 * torch.randn(2, 1, 600, generator=torch.Generator().manual_seed(1))
    extra = {} if knobs is None else {"knobs": knobs}
    out = model(x, **extra)
    assert out.audio.shape == x.shape and torch.isfinite(out.audio).all()
    assert_streams(model.double(), x.double(), atol=1e-9, knobs=None if knobs is None else knobs.double())
    loaded = load_model(save_model(model, path))
    assert torch.equal(loaded(x.double(), **{k: v.double() for k, v in extra.items()}).audio, model(x.double(), **{k: v.double() for k, v in extra.items()}).audio)


@pytest.mark.parametrize("name", PRESETS)
def test_gradients_reach_every_learnable_part(name):
    model, knobs = build(name, "knobs+time-varying")
    model = perturbed(model, scale=0.1).double()
    # 4 frames at least, for the GRU to recur; beyond the reverb's longest delay line for its gains to matter.
    steps = 6000 if name in ("reverb",) else 1024
    x = 0.3 * torch.randn(1, 1, steps, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    loss = model(x, knobs=knobs.double()).audio.square().mean()
    named = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, list(named.values()), allow_unused=True)
    dead = [n for (n, _), g in zip(named.items(), grads) if (g is None or g.abs().sum() == 0) and ".processor.raw." not in n]
    assert not dead, dead  # only the static values that a controller replaces get no gradient


@pytest.mark.parametrize("name", PRESETS)
def test_knobs_change_the_sound(name):
    model, _ = build(name, "knobs")
    model = perturbed(model, scale=0.1, seed=3)
    x = 0.3 * torch.randn(1, 1, 600, generator=torch.Generator().manual_seed(4))
    low, high = (model(x, knobs=torch.full((1, 2), v)).audio for v in (0.0, 1.0))
    assert (low - high).abs().max() > 1e-4


def test_bad_preset_options():
    with pytest.raises(ValueError, match="control must be one of"):
        PRESETS["compressor"](FS, control="dynamic")
    with pytest.raises(ValueError, match="needs num_knobs > 0"):
        PRESETS["overdrive"](FS, control="knobs")
    with pytest.raises(ValueError, match="shaper must be one of"):
        PRESETS["overdrive"](FS, shaper="cubic")
    with pytest.raises(ValueError, match="base must be one of"):
        PRESETS["hybrid"](FS, base="hybrid")
    with pytest.raises(ValueError, match="topology must be one of"):
        PRESETS["amp"](FS, topology="tone-last")


def test_output_fir_starts_as_the_model_and_learns_a_filter(tmp_path):
    net = perturbed(RecurrentModel(FS, hidden=4, residual=True), scale=0.1)
    model = with_output_fir(net, taps=96)
    x = 0.3 * torch.randn(2, 1, 600, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(model(x).audio, net(x).audio, rtol=0, atol=1e-6)  # a unit impulse (FFT rounding)
    model = perturbed(model, scale=0.1)
    assert_streams(model.double(), x.double(), atol=1e-9)
    model(x).audio.square().sum().backward()
    assert model.blocks[1].taps.grad.abs().sum() > 0 and all(p.grad is not None for p in net.parameters())
    loaded = load_model(save_model(model, tmp_path / "net_fir.safetensors"))
    assert torch.equal(loaded(x.double()).audio, model(x.double()).audio)
    with pytest.raises(TypeError, match="model must be a Processor"):
        with_output_fir(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="length must be an int >= 1"):
        with_output_fir(net, taps=0)
