"""Series and parallel composition: routing, streaming, latency, gradients, errors."""

import pytest
import torch

from ddsp_kit.chain import Chain, Parallel
from ddsp_kit.processors import Biquad, Compressor, Gain, HardClip, OnePole, ParametricEQ, Polarity, StateVariableFilter
from processor_checks import assert_gradients, assert_streams

FS = 48000


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_chain_is_its_blocks_in_series_and_reports_their_params():
    blocks = [Biquad(FS, "peak", 800.0, 2.0, 6.0), Compressor(FS, threshold_db=-30.0), Gain(FS, -3.0)]
    chain = Chain(*blocks).double()
    x = noise(2, 1, 2000)
    expected = x
    for block in blocks:
        expected = block(expected).audio
    out = chain(x)
    assert torch.equal(out.audio, expected)
    assert out.params["1.threshold_db"].item() == pytest.approx(-30.0, abs=1e-4)
    assert set(out.state) == {"0.filter", "1.envelope"}


def test_controls_reach_the_block_they_name():
    chain = Chain(Gain(FS), StateVariableFilter(FS, "lowpass")).double()
    x = noise(1, 1, 480)
    hz = torch.logspace(2, 4, 480, dtype=torch.float64).reshape(1, 1, -1)
    control = chain.blocks[1].to_raw("frequency", hz)
    direct = chain.blocks[1](chain.blocks[0](x).audio, {"frequency": control}).audio
    assert torch.equal(chain(x, {"1.frequency": control}).audio, direct)


def test_nested_chains_and_parallel_stream_and_sum_latency():
    quiet = Compressor(FS, threshold_db=-10.0, lookahead_ms=0.5)
    model = Chain(
        ParametricEQ(FS, bands=1, peak1_gain_db=4.0),
        Chain(HardClip(FS, input_gain_db=6.0, oversampling=2), quiet),
        Parallel(Gain(FS, -6.0), OnePole(FS, "lowpass", 3000.0)),
    ).double()
    assert model.latency == HardClip(FS, oversampling=2).latency + quiet.latency
    x = 0.5 * noise(2, 2, 500, seed=1)
    assert_streams(model, x, atol=1e-10)
    t = torch.linspace(0, 1, 500, dtype=torch.float64).reshape(1, 1, -1)
    assert_streams(model, x, {"1.1.threshold_db": torch.sin(5 * t), "2.gain0_db": t}, atol=1e-10)


def test_parallel_aligns_branch_latencies():
    # Threshold at 0 dB on a quiet signal: the look-ahead compressor is a pure delay.
    delayed = Compressor(FS, threshold_db=0.0, knee_db=0.0, lookahead_ms=1.0)
    both = Parallel(delayed, Gain(FS, 0.0)).double()
    x = 0.01 * noise(1, 1, 400, seed=2)
    lag = delayed.latency
    y = both(x).audio
    assert both.latency == lag == 48
    torch.testing.assert_close(y[..., lag:], 2 * x[..., :-lag], rtol=0, atol=1e-6)  # gains map 0 dB to 1 - 4e-6
    assert_streams(both, x, atol=1e-12)


def test_gradients_reach_every_block():
    chain = Chain(Biquad(FS, "peak", 2000.0, 1.5, 5.0), Gain(FS, -2.0), Parallel(Gain(FS, -1.0), Polarity(FS), gains_db=[0.0, -6.0]))
    chain = chain.double()
    x = noise(1, 1, 40, seed=3).requires_grad_()
    loss = chain(x).audio.square().sum()
    grads = torch.autograd.grad(loss, list(chain.parameters()))
    assert all(g.abs().sum() > 0 for g in grads) and len(grads) == 7
    assert torch.autograd.gradcheck(lambda x: chain(x).audio, (x,))


def test_a_gain_parallel_passes_the_shared_gradcheck():
    assert_gradients(Parallel(Gain(FS, -3.0), OnePole(FS, "highpass", 500.0)), noise(1, 1, 32, seed=4), per_sample=True)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: Chain(), ValueError, "at least one block"),
        (lambda: Chain(Gain(FS), torch.nn.Linear(1, 1)), TypeError, "block 1 must be a Processor"),
        (lambda: Chain(Gain(FS), Gain(44100)), ValueError, "different sample rates"),
        (lambda: Parallel(Gain(FS), Gain(FS), gains_db=[0.0]), ValueError, "1 gains for 2 branches"),
        (lambda: Chain(Gain(FS))(torch.zeros(1, 1, 4), {"2.gain_db": torch.zeros(1, 1, 1)}), ValueError, "no block"),
        (lambda: Chain(Gain(FS))(torch.zeros(1, 1, 4), state={"x": torch.zeros(1)}), ValueError, "no block"),
        (lambda: Chain(Gain(FS))(torch.zeros(1, 1, 4), knobs=torch.zeros(1, 1)), ValueError, "reads no knobs"),
        (lambda: Chain(Gain(FS))(torch.zeros(1, 4)), ValueError, r"\(batch, channels, samples\)"),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_extra_inputs_reach_the_blocks_that_take_them():
    from ddsp_kit.controllers import Controlled, KnobController
    from ddsp_kit.processors import ADSR, DryWet, Sine

    x = noise(1, 1, 2000, seed=5)
    key = 2.0 * noise(1, 1, 2000, seed=6)
    duck = Compressor(FS, threshold_db=-30.0, ratio=8.0).double()
    chain = Chain(Gain(FS, 0.0), DryWet(duck, 1.0), Controlled(Gain(FS), KnobController(1))).double()
    knobs = torch.tensor([[0.5]], dtype=torch.float64)
    keyed = chain(x, sidechain=key, knobs=knobs).audio
    expected = chain.blocks[2](chain.blocks[1](chain.blocks[0](x).audio, sidechain=key).audio, knobs=knobs).audio
    assert torch.equal(keyed, expected)
    assert not torch.allclose(keyed, chain(x, knobs=knobs).audio)
    assert_streams(chain, x, atol=1e-10, knobs=knobs, sidechain=key)
    synth = Chain(Sine(FS, 440.0), ADSR(FS, release_ms=2.0)).double()
    gate = (torch.arange(2000) < 1000).double().reshape(1, 1, -1)
    held, released = synth(torch.zeros(1, 1, 2000, dtype=torch.float64)).audio, synth(torch.zeros(1, 1, 2000, dtype=torch.float64), gate=gate).audio
    assert held[..., -200:].abs().max() > 10 * released[..., -200:].abs().max()
    with pytest.raises(ValueError, match="takes the input 'gate'"):
        Chain(Gain(FS))(x, gate=gate)
