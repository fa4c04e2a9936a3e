"""Gray-box presets: every family and control mode builds, streams, learns, saves and reacts to knobs."""

import pytest
import torch

from ddsp_kit.export import load_model, save_model
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
    model = perturbed(model, scale=0.1)
    x = 0.3 * torch.randn(2, 1, 600, generator=torch.Generator().manual_seed(1))
    extra = {} if knobs is None else {"knobs": knobs}
    out = model(x, **extra)
    assert out.audio.shape == x.shape and torch.isfinite(out.audio).all()
    assert_streams(model.double(), x.double(), atol=1e-9, knobs=None if knobs is None else knobs.double())
    loaded = load_model(save_model(model, tmp_path / f"{name}.safetensors"))
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
