"""Controllers: they start at the block's values, follow knobs and the signal, stream, learn and save."""

import pytest
import torch

from ddsp_kit.chain import Chain
from ddsp_kit.controllers import Controlled, KnobController, TimeVaryingController
from ddsp_kit.export import load_model, save_model
from ddsp_kit.processors import Compressor, Gain, StateVariableFilter, Tanh
from processor_checks import assert_streams, perturbed

FS = 48000


def moved(module):
    return perturbed(module, scale=0.3)  # far enough from the initial values for knobs and signal to matter


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("controller", [lambda: KnobController(2), lambda: TimeVaryingController(hop=32, num_knobs=2)])
def test_a_new_controller_leaves_the_block_unchanged(controller):
    block = Compressor(FS, threshold_db=-25.0).double()
    wrapped = Controlled(block, controller()).double()
    x = noise(2, 1, 300)
    knobs = torch.tensor([[0.1, 0.9], [0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(wrapped(x, knobs=knobs).audio, block(x).audio, rtol=0, atol=1e-12)


def test_knobs_move_the_parameters():
    drive = moved(Controlled(Tanh(FS), KnobController(1), names=["input_gain_db"]).double())
    x = noise(2, 1, 64)
    low = drive(x, knobs=torch.tensor([[0.0]], dtype=torch.float64))
    high = drive(x, knobs=torch.tensor([[1.0]], dtype=torch.float64))
    assert not torch.allclose(low.params["input_gain_db"], high.params["input_gain_db"])
    assert not torch.allclose(low.audio, high.audio)


def test_time_varying_controls_follow_the_input_one_frame_late():
    hop = 64
    sweep = moved(Controlled(StateVariableFilter(FS, "lowpass"), TimeVaryingController(hop=hop), names=["frequency"]).double())
    quiet_then_loud = torch.cat([0.001 * noise(1, 1, 4 * hop), noise(1, 1, 4 * hop, seed=1)], -1)
    hz = sweep(quiet_then_loud).params["frequency"][0, 0]
    assert hz.shape == (8 * hop,)
    # Causal with one frame of delay: the loud part cannot matter before frame 5 (samples >= 5 hop).
    quiet_only = sweep(quiet_then_loud[..., : 5 * hop]).params["frequency"][0, 0]
    torch.testing.assert_close(hz[: 5 * hop], quiet_only, rtol=0, atol=0)
    assert (hz[6 * hop:] - hz[: 4 * hop].mean()).abs().min() > 1e-3


@pytest.mark.parametrize("hop", [1, 16, 50])
def test_time_varying_controller_streams_with_any_block_size(hop):
    model = moved(Chain(Controlled(Compressor(FS), TimeVaryingController(hop=hop, num_knobs=1)), Gain(FS)).double())
    x = noise(2, 2, 400, seed=2)
    assert_streams(model, x, atol=1e-10, knobs=torch.tensor([[0.3], [0.8]], dtype=torch.float64))


def test_gradients_reach_the_controllers():
    model = moved(Chain(
        Controlled(Tanh(FS), KnobController(1), names=["input_gain_db"]),
        Controlled(StateVariableFilter(FS, "lowpass"), TimeVaryingController(hop=8, num_knobs=1)),
    ).double())
    x = noise(1, 1, 64, seed=3)
    knobs = torch.tensor([[0.4]], dtype=torch.float64)
    loss = model(x, knobs=knobs).audio.square().sum()
    named = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, list(named.values()), allow_unused=True)
    missing = [name for (name, _), grad in zip(named.items(), grads) if grad is None or grad.abs().sum() == 0]
    # The blocks' own static values of controlled parameters are replaced by the controller's outputs.
    assert all(".raw." in name for name in missing), missing
    x = x[..., :24].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: model(x, knobs=knobs).audio, (x,))


def test_controlled_models_save_and_load_bit_exactly(tmp_path):
    model = moved(Chain(
        Controlled(Compressor(FS), TimeVaryingController(hop=32, num_knobs=2), names=["threshold_db", "ratio"]),
        Controlled(Gain(FS), KnobController(2, hidden=8)),
    ))
    loaded = load_model(save_model(model, tmp_path / "controlled.safetensors"))
    x, knobs = torch.randn(2, 1, 300), torch.tensor([[0.1, 0.2], [0.9, 0.4]])
    assert torch.equal(model(x, knobs=knobs).audio, loaded(x, knobs=knobs).audio)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: Controlled(Gain(FS), KnobController(1), names=["drive"]), ValueError, "cannot control"),
        (lambda: Controlled(Gain(FS), torch.nn.Linear(1, 1)), TypeError, "Controlled"),
        (lambda: KnobController(0), ValueError, "num_knobs >= 1"),
        (lambda: TimeVaryingController(hop=0), ValueError, "hop >= 1"),
        (lambda: Controlled(Gain(FS), KnobController(2))(torch.zeros(1, 1, 4)), ValueError, "needs knobs"),
        (lambda: Controlled(Gain(FS), KnobController(2))(torch.zeros(1, 1, 4), knobs=torch.zeros(1, 3)), ValueError, r"\(batch or 1, 2\)"),
        (lambda: Controlled(Gain(FS), KnobController(2))(torch.zeros(1, 1, 4), knobs=torch.full((1, 2), 2.0)), ValueError, r"\[0, 1\]"),
        (lambda: Controlled(Gain(FS), TimeVaryingController())(torch.zeros(1, 1, 4), knobs=torch.zeros(1, 1)), ValueError, "reads no knobs"),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_controller_can_read_the_chain_input():
    # After a -40 dB gain the block's own input is quiet; the chain's input is not.
    def build(source):
        torch.manual_seed(5)
        controller = TimeVaryingController(hop=16, source=source)
        return moved(Chain(Gain(FS, -40.0), Chain(Controlled(StateVariableFilter(FS, "lowpass"), controller))).double())

    x = noise(1, 1, 320, seed=6)
    own, whole = build("block"), build("chain")
    own_hz = own(x).params["1.0.frequency"]
    chain_hz = whole(x).params["1.0.frequency"]
    assert not torch.allclose(own_hz, chain_hz)
    # Driving the inner chain directly with the outer input as its chain input gives the same controls.
    inner = whole.blocks[1](whole.blocks[0](x).audio, chain_input=x)
    torch.testing.assert_close(inner.params["0.frequency"], chain_hz, rtol=0, atol=0)
    assert_streams(whole, x, atol=1e-10)
    with pytest.raises(ValueError, match="reads the chain's input"):
        Controlled(Gain(FS), TimeVaryingController(source="chain"))(x)
