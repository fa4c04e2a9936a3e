"""Utility blocks against closed forms: dB gains, offsets, the constant-power pan
law, the dry/wet crossfade with a latency-compensated dry path; gradients,
streaming, bad input.

Tolerances: physical values round-trip through the sigmoid parameterisation to
about 1e-6 of their range (base._EDGE), so module outputs are compared to
closed forms at 1e-5 relative; pure functions in float64 at 1e-12.
"""

import math

import pytest
import torch
from torch.autograd import gradcheck

from processor_checks import assert_streams

from ddsp_kit.functional.utility import db_to_gain, delay, dry_wet, pan
from ddsp_kit.processors.base import Processor
from ddsp_kit.processors.nonlinear import HardClip, Tanh
from ddsp_kit.processors.utility import DCOffset, DryWet, Gain, Pan, Polarity

FS = 48000.0


def test_gain_is_ten_to_the_db_over_twenty():
    for gain_db in (-60.0, -6.0, 0.0, 12.0, 24.0):
        assert float(db_to_gain(torch.tensor(gain_db, dtype=torch.float64))) == pytest.approx(10 ** (gain_db / 20), rel=1e-12)
        block = Gain(FS, gain_db=gain_db).double()
        x = torch.randn(2, 3, 10, dtype=torch.float64)
        torch.testing.assert_close(block(x).audio.detach(), x * 10 ** (gain_db / 20), rtol=1e-5, atol=0)


def test_gain_per_sample_control():
    block = Gain(FS).double()
    x = torch.ones(1, 1, 4, dtype=torch.float64)
    levels = torch.tensor([-20.0, -6.0, 0.0, 6.0], dtype=torch.float64)
    out = block(x, {"gain_db": block.to_raw("gain_db", levels).reshape(1, 1, 4)})
    torch.testing.assert_close(out.audio[0, 0], 10 ** (levels / 20), rtol=1e-5, atol=0)
    torch.testing.assert_close(out.params["gain_db"][0, 0], levels, rtol=0, atol=1e-4)  # 1e-6 of the 84 dB range


def test_dc_offset_adds_a_constant():
    block = DCOffset(FS, offset=-0.25).double()
    x = torch.randn(2, 2, 8, dtype=torch.float64)
    torch.testing.assert_close(block(x).audio.detach(), x - 0.25, rtol=0, atol=1e-5)


def test_polarity_inverts_and_has_nothing_to_learn():
    x = torch.randn(1, 2, 5)
    assert torch.equal(Polarity(FS)(x).audio, -x)
    assert torch.equal(Polarity(FS, invert=False)(x).audio, x)
    assert list(Polarity(FS).parameters()) == []
    with pytest.raises(TypeError, match="invert must be a bool"):
        Polarity(FS, invert=1)


@pytest.mark.parametrize("position", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_pan_law_has_constant_power(position):
    x = torch.randn(2, 1, 16, dtype=torch.float64)
    mono = pan(x, position)
    theta = (position + 1) * math.pi / 4
    # Mono: gains (cos, sin), squares sum to 1 at every position.
    torch.testing.assert_close(mono, torch.cat([x * math.cos(theta), x * math.sin(theta)], 1), rtol=0, atol=1e-12)
    torch.testing.assert_close((mono**2).sum(1, keepdim=True), x**2, rtol=0, atol=1e-12)
    # Stereo balance: sqrt(2) (cos, sin), squared gains sum to 2, unity at the centre.
    stereo = pan(torch.ones(1, 2, 1, dtype=torch.float64), position)
    assert float((stereo**2).sum()) == pytest.approx(2.0, abs=1e-12)
    if position == 0.0:
        torch.testing.assert_close(stereo, torch.ones(1, 2, 1, dtype=torch.float64), rtol=0, atol=1e-12)


def test_pan_module_per_sample_sweep():
    block = Pan(FS).double()
    positions = torch.linspace(-0.99, 0.99, 32, dtype=torch.float64)
    out = block(torch.ones(1, 1, 32, dtype=torch.float64), {"pan": block.to_raw("pan", positions).reshape(1, 1, -1)})
    theta = (positions + 1) * math.pi / 4
    torch.testing.assert_close(out.audio[0], torch.stack([torch.cos(theta), torch.sin(theta)]), rtol=0, atol=1e-5)


def test_dry_wet_is_a_linear_crossfade():
    dry, wet = torch.randn(3, 10, dtype=torch.float64), torch.randn(3, 10, dtype=torch.float64)
    for mix in (0.0, 0.3, 1.0):
        torch.testing.assert_close(dry_wet(dry, wet, mix), (1 - mix) * dry + mix * wet, rtol=0, atol=1e-12)
    block = DryWet(Gain(FS, gain_db=-6.0), mix=0.3).double()
    x = torch.randn(2, 2, 12, dtype=torch.float64)
    torch.testing.assert_close(block(x).audio.detach(), 0.7 * x + 0.3 * 10 ** (-6 / 20) * x, rtol=1e-5, atol=0)


def test_dry_path_is_delayed_by_the_inner_latency():
    # A nearly linear oversampled shaper (tanh at -24 dB drive, +24 dB makeup) on a
    # quiet band-limited signal: the wet path is the input delayed by the latency
    # (cubic term ~1e-6, filter ripple 1e-4), so with the dry path aligned the mix
    # is that delayed input too; without alignment it would comb-filter.
    inner = Tanh(FS, input_gain_db=-24.0, output_gain_db=24.0, oversampling=4).double()
    block = DryWet(inner, mix=0.5).double()
    assert block.latency == inner.latency == 44
    t = torch.arange(2000, dtype=torch.float64)
    x = (0.1 * torch.sin(2 * math.pi * 0.3 * t) + 0.1 * torch.sin(2 * math.pi * 0.05 * t)).reshape(1, 1, -1)
    y = block(x).audio.detach()
    torch.testing.assert_close(y[..., 500:], x[..., 500 - 44 : -44], rtol=0, atol=1e-4)


def test_delay_streams():
    x = torch.randn(2, 50, dtype=torch.float64)
    pieces, history = [], None
    for block in x.split([1, 1, 3, 20, 25], -1):
        y, history = delay(block, 7, history)
        pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, -1), torch.cat([torch.zeros(2, 7, dtype=torch.float64), x[:, :-7]], -1))


# -- gradients ---------------------------------------------------------------


def blocks_under_test():
    return {
        "gain": Gain(FS),
        "offset": DCOffset(FS),
        "pan_mono": Pan(FS),
        "drywet": DryWet(HardClip(FS, knee=0.3, input_gain_db=6.0, oversampling=2)),
    }


@pytest.mark.parametrize("name", list(blocks_under_test()))
def test_gradients_reach_every_parameter_including_per_sample_controls(name):
    torch.manual_seed(0)
    block = blocks_under_test()[name].double()
    x = (0.5 * torch.randn(1, 1, 6, dtype=torch.float64)).requires_grad_()
    names = list(block.specs)
    if isinstance(block, DryWet):  # the inner processor's controls too, under "inner."
        names += ["inner." + n for n in block.processor.specs]
    raw = {n: block.raw[n] if n in block.raw else block.processor.raw[n[len("inner.") :]] for n in names}
    controls = [
        (raw[n].detach() + 0.3 * torch.randn(1, 1, 6 if i == 0 else 1, dtype=torch.float64)).requires_grad_()
        for i, n in enumerate(names)
    ]

    def run(x, *values):
        return block(x, dict(zip(names, values))).audio

    assert gradcheck(run, (x, *controls), eps=1e-6, atol=1e-6, fast_mode=True)


def test_dry_wet_learnable_values_of_both_blocks_get_gradients():
    block = DryWet(Tanh(FS, input_gain_db=6.0))
    block(torch.randn(1, 1, 32)).audio.square().sum().backward()
    for name, value in block.named_parameters():
        assert value.grad is not None and float(value.grad.abs()) > 0, name


# -- streaming ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(blocks_under_test()))
@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_streaming_in_random_blocks_equals_one_pass(name, dtype, tolerance):
    # float64: identical up to rounding (1e-12); float32: the inner oversampling
    # convolutions may sum in another order for other lengths, a few ulps (1e-6).
    torch.manual_seed(1)
    block = blocks_under_test()[name].to(dtype)
    x = torch.randn(2, 1, 150, dtype=dtype)
    first = next(iter(block.specs))
    controls = {first: block.raw[first].detach() + torch.randn(2, 1, 150, dtype=dtype)}
    if isinstance(block, DryWet):
        controls["inner.input_gain_db"] = torch.randn(1, 1, 150, dtype=dtype)
    assert_streams(block, x, controls, atol=tolerance)


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("cls", [Gain, DCOffset, Pan, Polarity])
def test_bad_input_raises_clear_errors(cls):
    block = cls(FS)
    with pytest.raises(ValueError, match=r"\(batch, channels, samples\)"):
        block(torch.zeros(2, 16))
    with pytest.raises(ValueError, match="NaN or Inf"):
        block(torch.full((1, 1, 4), math.nan))
    with pytest.raises(TypeError, match="sample_rate must be a number"):
        cls("48000")


def test_out_of_range_values_at_construction():
    with pytest.raises(ValueError, match=r"gain_db must lie in \[-60, 24\] dB, got 30"):
        Gain(FS, gain_db=30.0)
    with pytest.raises(ValueError, match=r"offset must lie in \[-1, 1\], got 2"):
        DCOffset(FS, offset=2.0)
    with pytest.raises(ValueError, match=r"pan must lie in \[-1, 1\], got -1.5"):
        Pan(FS, pan=-1.5)
    with pytest.raises(ValueError, match=r"mix must lie in \[0, 1\], got 1.2"):
        DryWet(Gain(FS), mix=1.2)
    with pytest.raises(TypeError, match="processor must be a Processor"):
        DryWet(torch.nn.Identity())


def test_pan_rejects_other_channel_counts():
    with pytest.raises(ValueError, match=r"1 or 2 channels"):
        Pan(FS)(torch.zeros(1, 3, 8))
    with pytest.raises(ValueError, match=r"position must broadcast against \(batch, 1, time\)"):
        Pan(FS)(torch.zeros(1, 2, 8), {"pan": torch.zeros(1, 2, 8)})


class Triple(Processor):
    """A test block whose output has three channels whatever the input."""

    def __init__(self):
        super().__init__(FS, [])

    def process(self, x, params, state):
        return x[:, :1].expand(-1, 3, -1), {}


def test_dry_wet_errors():
    with pytest.raises(ValueError, match="dry and wet must broadcast"):
        DryWet(Triple())(torch.zeros(1, 2, 8))
    with pytest.raises(ValueError, match="has no parameter"):
        DryWet(Pan(FS))(torch.zeros(1, 1, 8), {"inner.gain_db": torch.zeros(1, 1, 1)})
