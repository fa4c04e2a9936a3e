"""Filter and EQ processors against scipy, pedalboard and per-sample references.

Tolerances: float64 paths agree with scipy to 1e-9 (only summation order
differs; poles here are far from the unit circle). pedalboard runs JUCE's
filters in a float32 direct form (measured differences 7e-8 for a one-pole,
1.3e-6 for a 2 kHz peak, 1.1e-5 for a 300 Hz shelf whose poles sit nearest the
unit circle, on a signal peaking near 1), so it is compared to 3e-5: float32
rounding accumulated over 0.5 s, far below any audible or modelling difference.
"""

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch

from ddsp_kit.functional import biquad_design
from ddsp_kit.functional.filters import reflection_to_lpc
from ddsp_kit.functional.fir import fir_filter
from ddsp_kit.functional.svf import svf
from ddsp_kit.processors.filters import (
    Biquad,
    DCBlocker,
    FIRFilter,
    LPCFilter,
    OnePole,
    ParametricEQ,
    StateVariableFilter,
)
from processor_checks import assert_gradients, assert_streams

FS = 48000


def noise(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def run(processor, x, **controls):
    return processor.double()(x, controls or None).audio.detach().numpy()


@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
def test_one_pole_matches_scipy_butterworth(kind):
    # A first-order Butterworth from scipy is the same pre-warped bilinear transform.
    x = noise(2, 1, 3000)
    b, a = ss.butter(1, 700.0, btype=kind, fs=FS)
    ours = run(OnePole(FS, kind, frequency=700.0), x)
    np.testing.assert_allclose(ours, ss.lfilter(b, a, x.numpy()), atol=1e-9)


def test_dc_blocker_matches_closed_form():
    x = noise(1, 2, 2000) + 3.0
    blocker = DCBlocker(FS, frequency=25.0).double()
    radius = math.exp(-2 * math.pi * blocker.values()["frequency"] / FS)
    gain = (1 + radius) / 2
    ref = ss.lfilter([gain, -gain], [1, -radius], x.numpy())
    np.testing.assert_allclose(run(blocker, x), ref, atol=1e-9)


@pytest.mark.parametrize("kind", ["lowpass", "highpass", "bandpass", "notch", "allpass", "peak", "lowshelf", "highshelf"])
def test_biquad_matches_scipy_sosfilt(kind):
    x = noise(2, 2, 3000)
    biquad = Biquad(FS, kind, frequency=1500.0, q=1.7, gain_db=-7.0).double()
    values = biquad.values()
    sos = biquad_design(kind, values["frequency"], values["q"], values.get("gain_db", 0.0), sample_rate=FS).numpy()
    np.testing.assert_allclose(run(biquad, x), ss.sosfilt(sos[None], x.numpy()), atol=1e-9)


@pytest.mark.parametrize(
    "board, settings, ours",
    [
        ("LowpassFilter", dict(cutoff_frequency_hz=900.0), lambda: OnePole(FS, "lowpass", 900.0)),
        ("HighpassFilter", dict(cutoff_frequency_hz=900.0), lambda: OnePole(FS, "highpass", 900.0)),
        ("PeakFilter", dict(cutoff_frequency_hz=2000.0, gain_db=9.0, q=3.0), lambda: Biquad(FS, "peak", 2000.0, 3.0, 9.0)),
        ("LowShelfFilter", dict(cutoff_frequency_hz=300.0, gain_db=-6.0, q=0.7071), lambda: Biquad(FS, "lowshelf", 300.0, 0.7071, -6.0)),
        ("HighShelfFilter", dict(cutoff_frequency_hz=5000.0, gain_db=4.0, q=0.9), lambda: Biquad(FS, "highshelf", 5000.0, 0.9, 4.0)),
    ],
)
def test_filters_match_pedalboard(board, settings, ours):
    pedalboard = pytest.importorskip("pedalboard")
    x = 0.25 * noise(1, 1, FS // 2, seed=3)
    reference = getattr(pedalboard, board)(**settings)(x[0].float().numpy(), FS)
    np.testing.assert_allclose(run(ours(), x)[0], reference, atol=3e-5)


def svf_reference(x, kind, frequency, q, gain_db, fs):
    """Per-sample float64 loop of the trapezoidal SVF (Simper's equations, written out)."""
    x = np.asarray(x, dtype=np.float64)
    frequency, q, gain_db = (np.broadcast_to(np.asarray(v, dtype=np.float64), x.shape) for v in (frequency, q, gain_db))
    s1 = s2 = 0.0
    y = np.empty_like(x)
    for t in range(x.shape[0]):
        g, k, amp = math.tan(math.pi * frequency[t] / fs), 1 / q[t], 10 ** (gain_db[t] / 40)
        mix = {"lowpass": (0, 0, 1), "highpass": (1, -k, -1), "bandpass": (0, k, 0), "notch": (1, -k, 0), "allpass": (1, -2 * k, 0)}
        if kind == "peak":
            k = 1 / (q[t] * amp)
            mix[kind] = (1, k * (amp * amp - 1), 0)
        a1 = 1 / (1 + g * (g + k))
        a2, a3 = g * a1, g * g * a1
        v3 = x[t] - s2
        v1 = a1 * s1 + a2 * v3
        v2 = s2 + a2 * s1 + a3 * v3
        s1, s2 = 2 * v1 - s1, 2 * v2 - s2
        m0, m1, m2 = mix[kind]
        y[t] = m0 * x[t] + m1 * v1 + m2 * v2
    return y


@pytest.mark.parametrize("kind", ["lowpass", "highpass", "bandpass", "notch", "allpass", "peak"])
def test_svf_time_varying_matches_per_sample_reference(kind):
    steps = 2000
    x = noise(steps, seed=4)
    t = torch.arange(steps, dtype=torch.float64)
    frequency = 2000 * 2 ** (2 * torch.sin(2 * math.pi * t / 700))  # +-2 octaves at audio rate
    q = 0.3 + 8 * torch.rand(steps, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours = svf(x, kind, frequency, q, 6.0, sample_rate=FS)
    ref = svf_reference(x.numpy(), kind, frequency.numpy(), q.numpy(), 6.0, FS)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-10)


def test_svf_static_equals_biquad_and_stays_bounded_under_extreme_modulation():
    x = noise(1, 1, 3000, seed=6)
    for kind in ("lowpass", "peak", "lowshelf", "highshelf"):
        svf_out = run(StateVariableFilter(FS, kind, 800.0, 2.0, 5.0), x)
        biquad_out = run(Biquad(FS, kind, 800.0, 2.0, 5.0), x)
        np.testing.assert_allclose(svf_out, biquad_out, atol=1e-9)
    # Cut-off jumping between the ends of its range every sample, at the highest Q.
    sweep = StateVariableFilter(FS, "lowpass", q=20.0)
    hz = torch.where(torch.arange(FS) % 2 == 0, 20.0, 20000.0).double().reshape(1, 1, -1)
    y = run(sweep, noise(1, 1, FS, seed=7), frequency=sweep.to_raw("frequency", hz).double())
    assert np.isfinite(y).all() and np.abs(y).max() < 100


def test_parametric_eq_is_its_sections_in_series():
    eq = ParametricEQ(
        FS, bands=3, peak1_gain_db=6.0, peak2_gain_db=-9.0, peak3_q=4.0, low_shelf_gain_db=3.0, high_shelf_gain_db=-4.0
    ).double()
    values = eq.values()
    kinds = {"low_shelf": "lowshelf", "peak1": "peak", "peak2": "peak", "peak3": "peak", "high_shelf": "highshelf"}
    sos = np.stack([
        biquad_design(kind, values[f"{band}_frequency"], values[f"{band}_q"], values[f"{band}_gain_db"], sample_rate=FS).numpy()
        for band, kind in kinds.items()
    ])
    x = noise(2, 1, 4000, seed=8)
    np.testing.assert_allclose(run(eq, x), ss.sosfilt(sos, x.numpy()), atol=1e-9)
    # At a peak's centre the response is that peak's gain (plus the others' small skirts).
    _, h = ss.sosfreqz(sos, worN=[values["peak2_frequency"]], fs=FS)
    assert 20 * np.log10(abs(h[0])) == pytest.approx(-9.0, abs=0.5)
    assert ParametricEQ(FS, bands=3, shelves=False).values().keys() == {
        f"peak{i}_{p}" for i in (1, 2, 3) for p in ("frequency", "q", "gain_db")
    }


@pytest.mark.parametrize("taps", [5, 300])
def test_fir_matches_numpy_convolution(taps):
    # 5 taps take the direct path, 300 the FFT path.
    h = noise(2, 1, taps, seed=9)
    x = noise(2, 1, 1000, seed=10)
    ref = np.stack([[np.convolve(x[b, 0].numpy(), h[b, 0].numpy())[:1000]] for b in range(2)])
    y, state = fir_filter(x, h)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-10)
    assert state.shape == (2, 1, taps - 1)


def test_lpc_matches_scipy_and_reflection_keeps_stability():
    k = torch.tensor([0.9, -0.7, 0.5, -0.95], dtype=torch.float64)
    a = reflection_to_lpc(k)
    assert np.abs(np.roots(np.r_[1.0, a.numpy()])).max() < 1
    lpc = LPCFilter(FS, order=4, **{f"k{i + 1}": float(v) for i, v in enumerate(k)}, gain_db=-6.0).double()
    x = noise(1, 1, 2000, seed=11)
    a = reflection_to_lpc(torch.tensor([v for n, v in lpc.values().items() if n != "gain_db"], dtype=torch.float64))
    gain = 10 ** (lpc.values()["gain_db"] / 20)
    np.testing.assert_allclose(run(lpc, x), ss.lfilter([gain], np.r_[1.0, a.numpy()], x.numpy()), atol=1e-8)


PROCESSORS = {
    "one_pole": lambda: OnePole(FS, "highpass", 3000.0),
    "dc_blocker": lambda: DCBlocker(FS, 200.0),
    "biquad_peak": lambda: Biquad(FS, "peak", 2000.0, 1.5, 5.0),
    "biquad_lowshelf": lambda: Biquad(FS, "lowshelf", 500.0, 0.9, -5.0),
    "peq": lambda: ParametricEQ(FS, bands=1, peak1_gain_db=4.0, low_shelf_gain_db=2.0, high_shelf_gain_db=-3.0),
    "svf_bandpass": lambda: StateVariableFilter(FS, "bandpass", 3000.0, 2.0),
    "svf_highshelf": lambda: StateVariableFilter(FS, "highshelf", 3000.0, 0.8, 6.0),
    "lpc": lambda: LPCFilter(FS, order=3, k1=0.5, k2=-0.3, k3=0.2, gain_db=-3.0),
}


@pytest.mark.parametrize("name", PROCESSORS)
@pytest.mark.parametrize("per_sample", [False, True])
def test_gradients_reach_every_parameter(name, per_sample):
    assert_gradients(PROCESSORS[name](), noise(1, 1, 24 if per_sample else 48, seed=12), per_sample=per_sample)


def test_fir_taps_get_gradients():
    fir = FIRFilter(FS, noise(80, seed=13)).double()
    x = noise(1, 1, 200, seed=14).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, taps: fir_filter(x, taps)[0], (x, fir.taps))


@pytest.mark.parametrize("name", PROCESSORS)
@pytest.mark.parametrize("per_sample", [False, True])
def test_streaming_equals_one_pass(name, per_sample):
    processor = PROCESSORS[name]().double()
    x = noise(2, 2, 400, seed=15)
    controls = None
    if per_sample:
        t = torch.linspace(0, 1, 400, dtype=torch.float64).reshape(1, 1, -1)
        controls = {n: processor.raw[n].detach().reshape(1, 1, 1) + 0.5 * torch.sin(6 * t) for n in processor.specs}
    assert_streams(processor, x, controls, atol=1e-9)


def test_fir_streams_on_both_paths():
    for taps in (7, 200):
        assert_streams(FIRFilter(FS, noise(2, taps, seed=16)).double(), noise(3, 2, 500, seed=17), atol=1e-10)


def test_frame_rate_controls_stream_in_whole_frames():
    svf_module = StateVariableFilter(FS, "lowpass").double()
    x = noise(1, 1, 640, seed=18)
    frames = torch.linspace(-2, 2, 10, dtype=torch.float64).reshape(1, 1, -1)  # hop 64
    whole = svf_module(x, {"frequency": frames}).audio
    state, parts = None, []
    for i in range(0, 10, 2):  # blocks of two frames
        out = svf_module(x[..., i * 64:(i + 2) * 64], {"frequency": frames[..., i:i + 2]}, state)
        parts.append(out.audio)
        state = out.state
    assert torch.allclose(torch.cat(parts, -1), whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: Biquad("48k", "peak"), TypeError, "sample_rate"),
        (lambda: Biquad(FS, "bell"), ValueError, "kind"),
        (lambda: Biquad(FS, "peak", frequency=30000.0), ValueError, "frequency must lie"),
        (lambda: Biquad(22050, "peak", frequency=15000.0), ValueError, "frequency must lie"),
        (lambda: Biquad(FS, "peak", q=0.01), ValueError, "q must lie"),
        (lambda: ParametricEQ(FS, bands=2, peak3_gain_db=1.0), ValueError, "no parameter"),
        (lambda: LPCFilter(FS, order=2, k1=1.0), ValueError, "k1 must lie"),
        (lambda: FIRFilter(FS, torch.zeros(2, 3, 4)), ValueError, "taps"),
        (lambda: FIRFilter.pass_through(FS, 0), ValueError, "length must be an int >= 1"),
        (lambda: FIRFilter.pass_through(FS, 2.0), ValueError, "length must be an int >= 1"),
        (lambda: OnePole(FS)(torch.zeros(2, 100)), ValueError, r"\(batch, channels, samples\)"),
        (lambda: OnePole(FS)(torch.full((1, 1, 10), float("nan"))), ValueError, "NaN"),
        (lambda: OnePole(FS)(torch.zeros(1, 1, 10), {"cutoff": torch.zeros(1, 1, 1)}), ValueError, "no parameter"),
        (lambda: OnePole(FS)(torch.zeros(1, 1, 10), {"frequency": torch.zeros(1, 1, 3)}), ValueError, "frames dividing"),
        (lambda: OnePole(FS)(torch.zeros(1, 1, 10), state={"history": torch.zeros(1)}), ValueError, "do not belong"),
        (lambda: FIRFilter(FS, torch.ones(3, 4))(torch.zeros(1, 2, 10)), ValueError, "3 filters for 2 channels"),
    ],
)
def test_bad_input_raises(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("make", [lambda: Biquad(FS, "peak", 900.0, 3.0, 6.0), lambda: ParametricEQ(FS, bands=2)])
def test_stream_may_switch_between_static_and_per_sample_parameters(make):
    # Static block, then a modulated one, then static again: equal to one modulated pass.
    processor = make().double()
    x = noise(1, 2, 300, seed=19)
    name = next(iter(processor.specs))
    raw = processor.raw[name].detach().reshape(1, 1, 1).double()
    wobble = raw + torch.sin(torch.linspace(0, 9, 100, dtype=torch.float64)).reshape(1, 1, -1)
    whole = processor(x, {name: torch.cat([raw.expand(1, 1, 100), wobble, raw.expand(1, 1, 100)], -1)}).audio
    first = processor(x[..., :100])
    second = processor(x[..., 100:200], {name: wobble}, first.state)
    third = processor(x[..., 200:], state=second.state)
    streamed = torch.cat([first.audio, second.audio, third.audio], -1)
    assert torch.allclose(streamed, whole, rtol=0, atol=1e-10)


def test_one_control_frame_per_block_ramps_like_frames_in_one_pass():
    svf_module = StateVariableFilter(FS, "lowpass").double()
    x = noise(1, 1, 320, seed=20)
    frames = torch.linspace(-1, 1, 5, dtype=torch.float64).reshape(1, 1, -1)  # hop 64
    whole = svf_module(x, {"frequency": frames}).audio
    state, parts = None, []
    for i in range(5):  # one frame per 64-sample block
        out = svf_module(x[..., i * 64:(i + 1) * 64], {"frequency": frames[..., i:i + 1]}, state)
        parts.append(out.audio)
        state = out.state
    assert torch.allclose(torch.cat(parts, -1), whole, rtol=0, atol=1e-12)
