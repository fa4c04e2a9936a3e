"""Dynamics: static curves against their closed forms, time constants measured on
steps, pedalboard's (JUCE's) compressor reproduced, gradients, streaming, side-chain
and input checks.

Tolerances: closed forms in float64 to 1e-12 dB (the same formula, other
rounding); measured time constants to 0.01 sample (the discrete step response
is exactly 1 - exp(-m / (tau fs)), the only error is the linear interpolation of
the crossing); pedalboard to 1e-5 (see its test); streaming in float64 to 1e-12
(the same per-sample operations in another grouping).
"""

import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

from ddsp_kit.functional.dynamics import (
    MODES,
    amplitude_to_db,
    attack_release,
    dynamics,
    gain_curve,
    peak_level,
    rms_level,
    smoothing_coefficient,
)
from ddsp_kit.processors.dynamics import Compressor, Expander, Limiter, NoiseGate
from processor_checks import assert_gradients, assert_streams

FS = 48000
T, R, W, RANGE = -20.0, 4.0, 8.0, 30.0  # threshold, ratio, knee width (dB), gate range


def reference_gain(x, mode, threshold=T, ratio=R, knee=W, range_db=RANGE):
    """Giannoulis et al. (2012) output level y(x) per region, written out; returns y - x."""
    x = np.asarray(x, dtype=np.float64)
    d = x - threshold
    if mode in ("compressor", "limiter"):
        slope = 0.0 if mode == "limiter" else 1 / ratio
        below, above = x, threshold + slope * d
        inside = x + (slope - 1) * (d + knee / 2) ** 2 / (2 * knee) if knee else x
        y = np.where(2 * d <= -knee, below, np.where(2 * d >= knee, above, inside))
    else:  # output level falls `ratio` dB per dB below the knee
        below, above = threshold + ratio * d, x
        inside = x - (ratio - 1) * (d - knee / 2) ** 2 / (2 * knee) if knee else x
        y = np.where(2 * d <= -knee, below, np.where(2 * d >= knee, above, inside))
    gain = y - x
    return np.maximum(gain, -range_db) if mode == "gate" else gain


def curve(level_db, mode, knee=W):
    ratio = None if mode == "limiter" else R
    return gain_curve(level_db, mode, T, ratio=ratio, knee_db=knee, range_db=RANGE if mode == "gate" else None)


# Static curves -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("knee", [0.0, W])
def test_static_curve_matches_closed_form(mode, knee):
    # Below, inside and above the knee, the exact knee edges and the threshold.
    levels = np.concatenate([np.linspace(-90.0, 10.0, 1001), [T - knee / 2, T, T + knee / 2]])
    ours = curve(torch.tensor(levels), mode, knee).numpy()
    np.testing.assert_allclose(ours, reference_gain(levels, mode, knee=knee), rtol=0, atol=1e-12)


# Slope d(output level)/d(level) just outside and inside each knee edge (lower, upper).
EDGE_SLOPES = {"compressor": (1.0, 1 / R), "limiter": (1.0, 0.0), "expander": (R, 1.0), "gate": (R, 1.0)}


@pytest.mark.parametrize("mode", MODES)
def test_static_curve_continuous_with_continuous_slope_at_the_knee_edges(mode):
    delta = 1e-7
    for edge, slope in zip((T - W / 2, T + W / 2), EDGE_SLOPES[mode]):
        level = torch.tensor([edge - delta, edge + delta], dtype=torch.float64, requires_grad=True)
        output = level + curve(level, mode)
        (grad,) = torch.autograd.grad(output.sum(), level)
        # Continuous: across the edge the output moves by 2 delta times the slope
        # (a jump would add to it); the slope itself changes by O(delta R / W).
        assert output[1].item() - output[0].item() == pytest.approx(2 * delta * slope, abs=1e-12)
        np.testing.assert_allclose(grad.numpy(), [slope, slope], atol=1e-6)


def test_gate_floor_and_limiter_ceiling():
    loud = torch.tensor([0.0, 6.0], dtype=torch.float64)
    assert torch.allclose(loud + curve(loud, "limiter"), torch.full_like(loud, T))
    quiet = torch.tensor([-90.0, -60.0], dtype=torch.float64)
    assert torch.equal(curve(quiet, "gate"), torch.full_like(quiet, -RANGE))


def test_detectors():
    x = torch.tensor([[[0.5, -1.0, 0.25], [-0.25, 0.5, -0.75]]], dtype=torch.float64)
    torch.testing.assert_close(peak_level(x, "mean"), x.abs().mean(1, keepdim=True))
    # RMS of a constant settles to its magnitude; the one-pole mean square is
    # 1 - (1 - alpha)^(t + 1) of x^2 from silence.
    level, final = rms_level(torch.full((1, 1, 200), -0.5, dtype=torch.float64), 1.0, sample_rate=FS)
    alpha = 1 - math.exp(-1000 / (1.0 * FS))
    expected = 0.5 * torch.sqrt(1 - (1 - alpha) ** torch.arange(1, 201, dtype=torch.float64))
    torch.testing.assert_close(level[0, 0], expected, rtol=1e-12, atol=0)
    assert final.shape == (1, 1)
    assert amplitude_to_db(torch.tensor([0.0])).item() == -120.0


# Time constants ------------------------------------------------------------------------


def test_smoothing_coefficient_definition():
    # alpha = 1 - exp(-1 / (tau fs)): a step reaches 1 - 1/e after tau fs samples.
    tau_ms, fs = 2.5, 48000.0
    alpha = smoothing_coefficient(tau_ms, sample_rate=fs).item()
    assert alpha == pytest.approx(1 - math.exp(-1000 / (tau_ms * fs)), rel=1e-15)
    step = attack_release(torch.ones(400, dtype=torch.float64), tau_ms, 50.0, sample_rate=fs)
    assert step[round(tau_ms * fs / 1000) - 1].item() == pytest.approx(1 - 1 / math.e, rel=1e-12)


def crossing(values, target):
    """Fractional index where the increasing ``values`` first reach ``target`` (linear interpolation)."""
    k = int(np.argmax(values >= target))
    return k - 1 + (target - values[k - 1]) / (values[k] - values[k - 1])


@pytest.mark.parametrize("cls", [Compressor, NoiseGate])
def test_attack_and_release_times_on_steps(cls):
    """Level steps quiet -> loud -> quiet through a hard knee make the static gain a
    step; the smoothed gain covers 1 - 1/e of it tau after the step. For the
    compressor attack is the gain reduction growing; for the gate it is the gate
    opening (a rising level), release the other way."""
    onset, length = 100, 4000
    processor = cls(FS, threshold_db=-40.0, knee_db=0.0, attack_ms=5.0, release_ms=20.0).double()
    levels = torch.full((3 * length,), 10 ** (-70 / 20), dtype=torch.float64)
    levels[onset : onset + length] = 0.5
    out = processor(levels.reshape(1, 1, -1))
    gain_db = 20 * torch.log10(out.audio[0, 0].detach() / levels).numpy()
    params = {name: value.item() for name, value in out.params.items()}
    low, high = gain_db[onset - 1], gain_db[onset + length - 1]  # settled before each step
    rise = (gain_db[onset - 1 :] - low) / (high - low)  # 0 -> 1 over the attack (or release) step
    fall = (gain_db[onset + length - 1 :] - high) / (low - high)
    assert abs(high - low) > 10  # a real step: -25.5 dB for the compressor, +60 dB for the gate
    assert crossing(rise, 1 - 1 / math.e) == pytest.approx(params["attack_ms"] * FS / 1000, abs=0.01)
    assert crossing(fall, 1 - 1 / math.e) == pytest.approx(params["release_ms"] * FS / 1000, abs=0.01)


# pedalboard (JUCE dsp::Compressor) ---------------------------------------------------------


def test_pedalboard_time_constant_convention():
    """Measure pedalboard's envelope poles from a step: JUCE's BallisticsFilter has
    pole exp(-2 pi 1000 / (fs t_ms)), i.e. our time constant t_ms / (2 pi)."""
    pedalboard = pytest.importorskip("pedalboard")
    fs, attack, release, threshold = 44100, 1.0, 100.0, -60.0
    x = np.concatenate([np.ones(2000), np.full(2000, 0.25)]).astype(np.float32)
    y = pedalboard.Compressor(threshold_db=threshold, ratio=2.0, attack_ms=attack, release_ms=release)(x[None], fs)[0]
    # Above the threshold JUCE's gain is (env / T)^(1/R - 1) = (env / T)^(-1/2) at R = 2.
    env = 10 ** (threshold / 20) * (x.astype(np.float64) / y) ** 2
    m = np.arange(1, 41)
    attack_pole = np.exp(np.mean(np.log(1 - env[m - 1]) / m))  # env[m - 1] = 1 - c^m
    release_pole = np.exp(np.polyfit(m, np.log(env[1999 + m] - 0.25), 1)[0])  # env - 0.25 ~ c^m
    for pole, time_ms in ((attack_pole, attack), (release_pole, release)):
        juce = math.exp(-2 * math.pi * 1000 / (fs * time_ms))
        assert 1 - pole == pytest.approx(1 - juce, rel=1e-4)
        ours = smoothing_coefficient(time_ms / (2 * math.pi), sample_rate=fs).item()
        assert 1 - pole == pytest.approx(ours, rel=1e-4)


def pedalboard_signal(fs):
    g = np.random.default_rng(0)
    t = np.arange(fs) / fs
    bursts = np.where((t % 0.25) < 0.1, 1.0, 0.05)  # 100 ms bursts: attack and release both act
    mono = 0.8 * bursts * np.sin(2 * np.pi * 220 * t) + 0.01 * g.standard_normal(len(t))
    return np.stack([mono, 0.5 * mono[::-1]]).astype(np.float32)


@pytest.mark.parametrize(
    "threshold,ratio,attack,release", [(-20.0, 4.0, 1.0, 100.0), (-30.0, 10.0, 5.0, 50.0), (-10.0, 2.0, 0.1, 300.0)]
)
def test_matches_pedalboard_compressor(threshold, ratio, attack, release):
    """pedalboard.Compressor is JUCE's dsp::Compressor: a peak envelope smoothed with
    attack/release (our smoothing="level"), then a hard-knee gain
    (env / T)^(1/R - 1) above the threshold. Matching it takes knee_db=0,
    smoothing="level" and our times = JUCE's / (2 pi) (JUCE's pole is
    exp(-2 pi 1000 / (fs t_ms)), ours exp(-1000 / (fs t_ms))). It is sample-exact
    (no latency, no block-boundary effect): the residual, measured at most 1.6e-6
    against ours in float64 and 4e-7 in float32, is pedalboard's float32
    arithmetic. (A float32 loop of JUCE's per-sample formulas reproduces
    pedalboard bit for bit; the same loop in float64 is off by the same 1.6e-6,
    rounding accumulated by the envelope recursion over release tails.)
    Tolerance 1e-5 on signals peaking at 0.8; the untranslated times (no 2 pi)
    miss by 0.07 to 0.4, the "gain" topology by 0.01 to 0.08."""
    pedalboard = pytest.importorskip("pedalboard")
    fs = 44100
    x = pedalboard_signal(fs)
    expected = pedalboard.Compressor(threshold_db=threshold, ratio=ratio, attack_ms=attack, release_ms=release)(x, fs)
    times = dict(attack_ms=attack / (2 * math.pi), release_ms=release / (2 * math.pi))
    for dtype in (torch.float32, torch.float64):
        ours, _ = dynamics(torch.from_numpy(x).to(dtype)[None], "compressor", threshold_db=threshold, ratio=ratio,
                           knee_db=0.0, smoothing="level", sample_rate=fs, **times)
        np.testing.assert_allclose(ours[0].double().numpy(), expected, rtol=0, atol=1e-5)
    # The module too (its knee_db=0 is 2.4e-5 dB after the sigmoid: 1e-6 dB of gain at most).
    module = Compressor(fs, threshold_db=threshold, ratio=ratio, knee_db=0.0, smoothing="level", **times).double()
    ours = module(torch.from_numpy(x).double()[None]).audio.detach()
    np.testing.assert_allclose(ours[0].numpy(), expected, rtol=0, atol=1e-5)


# Gradients -------------------------------------------------------------------------------


def sweep(steps=48, seed=0):
    """A level sweep -40 -> 0 -> -40 dB with random signs and magnitudes in [0.5, 1]:
    it crosses the thresholds and knees below, through the knee and above, rises
    and falls (both smoothing branches), and stays far from zero (|x| is smooth)."""
    g = torch.Generator().manual_seed(seed)
    envelope = 10 ** (torch.cat([torch.linspace(-40, 0, steps // 2), torch.linspace(0, -40, steps - steps // 2)]) / 20)
    magnitude = 0.5 + 0.5 * torch.rand(steps, generator=g)
    sign = torch.where(torch.rand(steps, generator=g) < 0.5, -1.0, 1.0)
    return (envelope * magnitude * sign).double().reshape(1, 1, -1)


# Parameters sit where the sweep visits every region: thresholds -25 dB, knees 6 dB,
# the gate's floor (range 20 dB) reached 20 / 9 dB below its knee.
GRADIENT_CASES = [
    (Compressor, dict(threshold_db=-25.0, ratio=4.0, knee_db=6.0, attack_ms=0.05, release_ms=1.0, makeup_db=2.0), {}),
    (Limiter, dict(threshold_db=-25.0, knee_db=6.0, attack_ms=0.05, release_ms=1.0), dict(smoothing="level")),
    (
        Expander,
        dict(threshold_db=-25.0, ratio=3.0, knee_db=6.0, attack_ms=0.05, release_ms=1.0),
        dict(detector="rms", rms_ms=0.05),
    ),
    (NoiseGate, dict(threshold_db=-25.0, ratio=10.0, knee_db=6.0, attack_ms=0.05, release_ms=1.0, range_db=20.0), {}),
]


@pytest.mark.parametrize("cls,values,options", GRADIENT_CASES)
@pytest.mark.parametrize("per_sample", [False, True])
def test_gradients_reach_every_parameter(cls, values, options, per_sample):
    # gradcheck perturbs every control sample: keep per-sample cases short.
    assert_gradients(cls(FS, **values, **options), sweep(32 if per_sample else 48), per_sample=per_sample)


def test_gradients_through_sidechain_lookahead_and_link():
    processor = Compressor(FS, threshold_db=-25.0, knee_db=6.0, attack_ms=0.05, release_ms=1.0, link="max",
                           detector="rms", rms_ms=0.05, lookahead_ms=0.1, smoothing="level").double()
    x = torch.cat([sweep(seed=1), 0.5 * sweep(seed=2)], 1).requires_grad_()
    sidechain = torch.cat([sweep(seed=3), sweep(seed=4).flip(-1)], 1).requires_grad_()  # the max switches channel
    assert gradcheck(lambda x, s: processor(x, sidechain=s).audio, (x, sidechain), eps=1e-6, atol=1e-5, rtol=1e-4)


# Streaming, look-ahead, side-chain, link -----------------------------------------------------


@pytest.mark.parametrize("cls", [Compressor, NoiseGate])
@pytest.mark.parametrize("smoothing", ["gain", "level"])
def test_streaming_equals_one_pass(cls, smoothing):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 2, 2000, generator=g, dtype=torch.float64) * torch.linspace(0.01, 1, 2000, dtype=torch.float64)
    sidechain = torch.randn(2, 1, 2000, generator=g, dtype=torch.float64)
    processor = cls(FS, threshold_db=-30.0, attack_ms=0.5, release_ms=5.0, detector="rms", rms_ms=1.0,
                    lookahead_ms=1.0, smoothing=smoothing, link="mean").double()
    assert_streams(processor, x, atol=1e-12)
    assert_streams(processor, x, atol=1e-12, sidechain=sidechain)
    # Per-sample controls (per batch item for the release).
    wobble = torch.sin(torch.linspace(0, 6, 2000, dtype=torch.float64)).reshape(1, 1, -1)
    controls = {"threshold_db": processor.to_raw("threshold_db", -30.0) + wobble,
                "release_ms": processor.to_raw("release_ms", 5.0) + torch.cat([wobble, -wobble])}
    assert_streams(processor, x, controls, atol=1e-12, sidechain=sidechain)


def test_lookahead_delays_the_audio_and_lets_a_limiter_hold_its_ceiling():
    quiet = Compressor(FS, threshold_db=0.0, lookahead_ms=0.5)
    assert quiet.latency == 24
    x = 0.01 * torch.randn(1, 2, 300)
    torch.testing.assert_close(quiet(x).audio, torch.nn.functional.pad(x, (24, 0))[..., :300])
    # A step from -20 dB to 0 dB: 10 attack time constants of look-ahead leave
    # e^-10 of the 20 dB overshoot; without look-ahead the step passes through.
    step = torch.cat([torch.full((1, 1, 200), 0.1), torch.ones(1, 1, 400)], -1).double()

    def peak_db(lookahead_ms):
        limiter = Limiter(FS, threshold_db=-6.0, knee_db=0.0, attack_ms=0.2, lookahead_ms=lookahead_ms).double()
        return 20 * math.log10(limiter(step).audio.abs().max().item())

    assert peak_db(2.0) < -6.0 + 0.01
    assert peak_db(0.0) > -1.0


def test_sidechain_drives_the_detector():
    g = torch.Generator().manual_seed(5)
    quiet = 1e-3 * torch.randn(1, 2, 4800, generator=g)
    loud = torch.randn(1, 1, 4800, generator=g).clamp(-1, 1)  # mono key for a stereo signal
    gate = NoiseGate(FS, threshold_db=-40.0, range_db=60.0, attack_ms=0.1, release_ms=10.0)
    closed = gate(quiet).audio[..., -480:].abs().max() / quiet[..., -480:].abs().max()
    assert closed < 1e-2  # quiet signal gated by itself
    opened = gate(quiet, sidechain=loud).audio[..., -480:] / quiet[..., -480:]
    assert torch.allclose(opened, torch.ones_like(opened), atol=0.02)  # the loud key holds it open
    # A loud key ducks a signal that would pass untouched on its own.
    comp = Compressor(FS, threshold_db=-30.0, ratio=10.0, attack_ms=0.1, release_ms=10.0)
    torch.testing.assert_close(comp(quiet).audio, quiet)
    ducked = comp(quiet, sidechain=loud).audio[..., -480:].abs().max() / quiet[..., -480:].abs().max()
    assert ducked < 0.2


def test_stereo_link():
    x = torch.stack([torch.ones(400), torch.full((400,), 0.01)]).reshape(1, 2, -1)
    values = dict(threshold_db=-20.0, ratio=4.0, knee_db=0.0, attack_ms=0.1, release_ms=10.0)
    linked = Compressor(FS, link="max", **values)(x).audio[..., -1] / x[..., -1]
    unlinked = Compressor(FS, **values)(x).audio[..., -1] / x[..., -1]
    assert linked[0, 0].item() == pytest.approx(linked[0, 1].item())  # one gain for both
    assert linked[0, 0].item() == pytest.approx(10 ** (-15 / 20), rel=1e-3)  # (1/4 - 1) 20 dB
    assert unlinked[0, 1].item() == pytest.approx(1.0)  # the quiet channel alone is untouched


# Bad input ---------------------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    comp = Compressor(FS)
    with pytest.raises(ValueError, match="batch, channels, samples"):
        comp(torch.zeros(2, 100))
    with pytest.raises(TypeError, match="sample_rate"):
        Compressor("48000")
    with pytest.raises(ValueError, match=r"ratio must lie in \[1, 100\]"):
        Compressor(FS, ratio=0.5)
    with pytest.raises(ValueError, match="threshold_db must lie"):
        NoiseGate(FS, threshold_db=6.0)
    with pytest.raises(TypeError, match="ratio"):  # a limiter's ratio is infinite, not a parameter
        Limiter(FS, ratio=4.0)
    with pytest.raises(ValueError, match="detector"):
        Compressor(FS, detector="loudness")
    with pytest.raises(ValueError, match="smoothing"):
        Compressor(FS, smoothing="both")
    with pytest.raises(ValueError, match="link"):
        Compressor(FS, link="sum")
    with pytest.raises(ValueError, match="lookahead_ms"):
        Compressor(FS, lookahead_ms=-1.0)
    x = torch.zeros(1, 2, 100)
    with pytest.raises(ValueError, match="NaN"):
        comp(torch.full((1, 1, 10), math.nan))
    with pytest.raises(ValueError, match="NaN"):
        comp(x, sidechain=torch.full((1, 2, 100), math.nan))
    with pytest.raises(ValueError, match="sidechain .* does not fit"):
        comp(x, sidechain=torch.zeros(1, 2, 99))
    with pytest.raises(ValueError, match="sidechain .* does not fit"):
        comp(x, sidechain=torch.zeros(1, 3, 100))
    with pytest.raises(ValueError, match="limiter takes no ratio"):
        gain_curve(torch.zeros(1), "limiter", -10.0, ratio=4.0)
    with pytest.raises(ValueError, match="needs a ratio"):
        gain_curve(torch.zeros(1), "compressor", -10.0)
    with pytest.raises(ValueError, match="ratio must be >= 1"):
        gain_curve(torch.zeros(1), "expander", -10.0, ratio=0.5)
    with pytest.raises(ValueError, match="knee_db must be >= 0"):
        gain_curve(torch.zeros(1), "compressor", -10.0, ratio=2.0, knee_db=-1.0)
    with pytest.raises(ValueError, match="time_ms must be > 0"):
        smoothing_coefficient(0.0, sample_rate=FS)
    with pytest.raises(TypeError, match="sample_rate"):
        smoothing_coefficient(1.0, sample_rate="fast")
