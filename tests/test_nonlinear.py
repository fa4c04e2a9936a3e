"""Waveshapers and oversampling against closed forms and independent references
(numpy's polynomials, scipy's upfirdn and freqz), gradients, streaming, bad input.

Tolerances: float64 closed forms agree to 1e-12 (a few roundings of O(1)
values); the oversampling chain is linear-phase with pass-band ripple below
1e-5 per filter, so a band-limited signal comes back delayed and within 1e-4.
"""

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch
from torch.autograd import gradcheck
from torch.func import functional_call

from ddsp_kit.functional.nonlinear import (
    OVERSAMPLING_FACTORS,
    biased_tanh,
    chebyshev,
    downsample2,
    halfband_fir,
    hard_clip,
    oversample,
    oversampling_latency,
    rational,
    soft_clip,
    upsample2,
)
from processor_checks import assert_streams

from ddsp_kit.processors.nonlinear import Asymmetric, Chebyshev, HardClip, MLPWaveshaper, Rational, Tanh

FS = 48000.0
SHAPERS = [Tanh, HardClip, Asymmetric, Chebyshev, Rational, MLPWaveshaper]


def sine(bin_index, count, length=None, dtype=torch.float64):
    """``length`` samples (default ``count``) of a full-scale sine with a whole
    number of periods in ``count`` samples (no FFT leakage)."""
    return torch.sin(2 * math.pi * bin_index * torch.arange(length or count, dtype=dtype) / count)


def amplitudes(y):
    """Amplitude of each FFT bin of a periodic block."""
    return np.abs(np.fft.rfft(np.asarray(y))) * 2 / len(y)


# -- closed forms ------------------------------------------------------------


def test_soft_clip_is_tanh_of_the_driven_input():
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)
    np.testing.assert_allclose(soft_clip(x, 2.5).numpy(), np.tanh(2.5 * x.numpy()), rtol=0, atol=1e-15)


def test_tanh_module_applies_the_gains_in_db():
    shaper = Tanh(FS, input_gain_db=6.0, output_gain_db=-3.0).double()
    x = torch.linspace(-1, 1, 64, dtype=torch.float64).reshape(1, 1, -1)
    expected = 10 ** (-3 / 20) * np.tanh(10 ** (6 / 20) * x.numpy())
    # The gains round-trip through the sigmoid parameterisation (1e-6 of the range, see base._EDGE).
    np.testing.assert_allclose(shaper(x).audio.detach().numpy(), expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize("knee", [0.01, 0.1, 0.5, 2.0])
def test_hard_clip_is_exact_outside_the_knee_and_tends_to_the_hard_clipper(knee):
    x = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    y = hard_clip(x, knee)
    outside = (x.abs() <= 1 - knee / 2) | (x.abs() >= 1 + knee / 2)
    # Identical to the hard clipper up to rounding (a few ulps of values up to 3).
    torch.testing.assert_close(y[outside], x.clamp(-1, 1)[outside], rtol=0, atol=2e-15)
    # Inside the knee, the parabola; its largest distance from the hard clipper is
    # w / 8 (at |x| = 1), so the curve tends to the hard clipper as the knee closes.
    inside = x[~outside]
    expected = inside.sign() * (inside.abs() - (inside.abs() - 1 + knee / 2) ** 2 / (2 * knee))
    torch.testing.assert_close(y[~outside], expected, rtol=0, atol=1e-12)
    assert float((y - x.clamp(-1, 1)).abs().max()) == pytest.approx(knee / 8, rel=1e-6)


def test_hard_clip_slope_is_continuous():
    knee = 0.2
    x = torch.tensor([0.0, 0.9, 1.0, 1.1, -0.9, -1.1], dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(hard_clip(x, knee).sum(), x)
    # Analytic slope 1 - (|x| - 1 + w/2) / w inside the knee: 1 at its start, 1/2 at 1, 0 at its end.
    torch.testing.assert_close(slope, torch.tensor([1.0, 1.0, 0.5, 0.0, 1.0, 0.0], dtype=torch.float64))


def test_biased_tanh_closed_form_zero_at_zero_and_even_harmonics():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    np.testing.assert_allclose(biased_tanh(x, 0.3).numpy(), np.tanh(x.numpy() + 0.3) - np.tanh(0.3), rtol=0, atol=1e-15)
    assert biased_tanh(torch.zeros(1, dtype=torch.float64), 0.7).item() == 0.0
    count, k0 = 4096, 37
    x = sine(k0, count)
    symmetric = amplitudes(biased_tanh(x, 0.0))
    biased = amplitudes(biased_tanh(x, 0.5))
    # The odd-symmetric tanh has no even harmonics (float64 rounding, 1e-14);
    # a bias of 0.5 gives a second harmonic at -16 dB re the fundamental.
    assert symmetric[2 * k0] < 1e-14 and symmetric[4 * k0] < 1e-14
    assert 20 * np.log10(biased[2 * k0] / biased[k0]) > -20


@pytest.mark.parametrize("n", range(1, 9))
def test_chebyshev_of_cosine_is_the_nth_harmonic(n):
    theta = torch.linspace(0, math.pi, 257, dtype=torch.float64)
    coefficients = torch.zeros(n, dtype=torch.float64)
    coefficients[-1] = 1.0
    got = chebyshev(torch.cos(theta), coefficients, remove_offset=False)
    torch.testing.assert_close(got, torch.cos(n * theta), rtol=0, atol=1e-12)
    # The offset removed is T_n(0) = cos(n pi / 2).
    centred = chebyshev(torch.cos(theta), coefficients)
    torch.testing.assert_close(centred, torch.cos(n * theta) - round(math.cos(n * math.pi / 2)), rtol=0, atol=1e-12)


def test_chebyshev_matches_numpy_chebval_and_clamps_beyond_full_scale():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 3, 50))
    coefficients = rng.uniform(-2, 2, (6, 1, 3, 50))  # per-sample, per-channel
    reference = np.polynomial.chebyshev.chebval(x, np.concatenate([np.zeros((1, 1, 3, 50)), coefficients]), tensor=False)
    got = chebyshev(torch.from_numpy(x), torch.from_numpy(coefficients), remove_offset=False)
    np.testing.assert_allclose(got.numpy(), reference, rtol=0, atol=1e-12)
    beyond = chebyshev(torch.tensor([-5.0, 5.0], dtype=torch.float64), torch.ones(4, dtype=torch.float64), remove_offset=False)
    torch.testing.assert_close(beyond, torch.tensor([0.0, 4.0], dtype=torch.float64))  # sum of T_k(+-1) = (+-1)^k


def test_chebyshev_module_gives_exactly_the_requested_harmonics():
    harmonics = [0.5, 0.3, -0.2, 0.1, 0.05]
    shaper = Chebyshev(FS, order=5, harmonics=harmonics).double()
    count, k0 = 2048, 21
    y = shaper(sine(k0, count).reshape(1, 1, -1)).audio.detach()[0, 0].numpy()
    spectrum = amplitudes(y)
    expected = np.zeros_like(spectrum)
    expected[[k0 * k for k in range(1, 6)]] = np.abs(harmonics)
    # T_k(0) = cos(k pi / 2) is removed: the static level of c_2 T_2 + c_4 T_4 at zero input.
    expected[0] = 2 * abs(-(0.3 * -1 + 0.1 * 1))
    # Parameters round-trip through the sigmoid (1e-6 of the [-2, 2] range).
    np.testing.assert_allclose(spectrum, expected, rtol=0, atol=1e-5)
    assert shaper(torch.zeros(1, 1, 4, dtype=torch.float64)).audio.abs().max() < 1e-5


def test_rational_matches_numpy_and_its_denominator_is_at_least_one():
    rng = np.random.default_rng(1)
    x = rng.uniform(-60, 60, 2000)  # up to the largest drive, +36 dB
    for _ in range(20):
        a, b = rng.uniform(-4, 4, 4), rng.uniform(-4, 4, 3)
        p = np.polynomial.polynomial.polyval(x, a)
        s = np.polynomial.polynomial.polyval(x, np.concatenate([[0.0], b]))
        got = rational(torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(got, p / np.sqrt(1 + s * s), rtol=1e-12, atol=0)
        # Denominator >= 1: the output never exceeds the numerator (no poles).
        assert np.all(np.isfinite(got)) and np.all(np.abs(got) <= np.abs(p) * (1 + 1e-12))


def test_rational_module_default_is_the_algebraic_sigmoid():
    shaper = Rational(FS).double()
    x = torch.linspace(-10, 10, 201, dtype=torch.float64).reshape(1, 1, -1)
    # Coefficients (1, 0, 0) round-trip through the sigmoid to 1e-6 of the [-4, 4] range.
    torch.testing.assert_close(shaper(x).audio.detach(), x / torch.sqrt(1 + x * x), rtol=0, atol=1e-4)


def test_mlp_waveshaper_maps_zero_to_zero_and_matches_its_formula():
    torch.manual_seed(0)
    shaper = MLPWaveshaper(FS, hidden=8, input_gain_db=3.0).double()
    x = torch.randn(2, 1, 30, dtype=torch.float64)
    w1, b1, w2 = shaper.hidden.weight[:, 0], shaper.hidden.bias, shaper.output.weight[0]
    u = 10 ** (3.0 / 20) * x.unsqueeze(-1)
    expected = (torch.tanh(u * w1 + b1) @ w2) - torch.tanh(b1) @ w2
    torch.testing.assert_close(shaper(x).audio, expected, rtol=1e-5, atol=1e-7)  # gain round trip, 1e-6 relative
    assert shaper(torch.zeros(1, 1, 5, dtype=torch.float64)).audio.abs().max() == 0


# -- oversampling filters ----------------------------------------------------


@pytest.mark.parametrize("transition", [0.1, 0.3, 0.4])
def test_halfband_filter_response(transition):
    taps = halfband_fir(transition).numpy()
    centre = (len(taps) - 1) // 2
    assert len(taps) % 4 == 3 and np.array_equal(taps, taps[::-1])  # 4K - 1 taps, linear phase
    assert taps[centre] == 0.5 and np.all(taps[centre + 2 :: 2] == 0)  # exactly half-band
    frequencies, response = ss.freqz(taps, worN=1 << 16, fs=1.0)
    db = 20 * np.log10(np.abs(response) + 1e-300)
    # Stated: >= 100 dB in the stop band, ripple below 1e-4 dB in the pass band.
    assert db[frequencies >= 0.25 + transition / 2].max() <= -100.0
    assert np.abs(db[frequencies <= 0.25 - transition / 2]).max() < 1e-4


def test_upsample2_and_downsample2_match_scipy_upfirdn_and_stream():
    rng = np.random.default_rng(2)
    taps = halfband_fir(0.1)
    x = rng.standard_normal((2, 3, 101))
    up, _ = upsample2(torch.from_numpy(x), taps)
    np.testing.assert_allclose(up.numpy(), ss.upfirdn(2 * taps.numpy(), x, up=2)[..., :202], rtol=0, atol=1e-12)
    down, _ = downsample2(torch.from_numpy(x[..., :100]), taps)
    np.testing.assert_allclose(down.numpy(), ss.upfirdn(taps.numpy(), x[..., :100], down=2)[..., :50], rtol=0, atol=1e-12)
    # Block by block with the returned histories equals one pass.
    pieces, history = [], None
    for block in np.split(x[..., :100], [2, 4, 30, 64], -1):
        y, history = downsample2(torch.from_numpy(block), taps, history)
        pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, -1), down, rtol=0, atol=1e-12)
    pieces, history = [], None
    for block in np.split(x, [1, 2, 40], -1):
        y, history = upsample2(torch.from_numpy(block), taps, history)
        pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, -1), up, rtol=0, atol=1e-12)


@pytest.mark.parametrize("factor", OVERSAMPLING_FACTORS)
def test_oversampling_delays_a_band_limited_signal_by_the_stated_latency(factor):
    latency = oversampling_latency(factor)
    assert latency == {1: 0, 2: 37, 4: 44, 8: 47}[factor]
    rng = np.random.default_rng(3)
    t = torch.arange(3000, dtype=torch.float64)
    x = sum(torch.cos(2 * math.pi * f * t + p) for f, p in zip(rng.uniform(0, 0.38, 8), rng.uniform(0, 7, 8))) / 8
    y, _ = oversample(lambda u: u, x, factor)
    error = (y[500:] - x[500 - latency : len(x) - latency]).abs().max()
    # Each filter passes [0, 0.4 fs] within 1e-5; six of them stay below 1e-4.
    assert error < 1e-4
    if factor > 1:  # and the delay is this one, not a sample off
        assert (y[500:] - x[499 - latency : len(x) - latency - 1]).abs().max() > 1e-2


def test_oversampling_reduces_aliasing_of_a_hard_clipper():
    # A 4.6 kHz sine driven 12 dB into a hard clipper (knee 0.01) at 48 kHz: the
    # energy below 0.4 fs at non-harmonic frequencies (aliases), re the
    # fundamental, measured: -20.8 dB without oversampling, -34.6 dB at 2x,
    # -48.8 dB at 4x, -61.8 dB at 8x.
    count, k0 = 1 << 14, 1571
    x = sine(k0, count, count + 2048).reshape(1, 1, -1)  # 2048 samples for the filters to settle
    harmonic = np.zeros(count // 2 + 1, bool)
    multiples = k0 * np.arange(1, count // k0)
    harmonic[multiples[multiples <= count // 2]] = True
    band = np.arange(count // 2 + 1) <= 0.4 * count

    def aliasing_db(factor):
        clipper = HardClip(FS, knee=0.01, input_gain_db=12.0, oversampling=factor).double()
        power = amplitudes(clipper(x).audio.detach()[0, 0, -count:].numpy()) ** 2
        return 10 * np.log10(power[band & ~harmonic].sum() / power[k0])

    plain, oversampled = aliasing_db(1), aliasing_db(4)
    assert plain == pytest.approx(-20.8, abs=0.5)
    assert oversampled == pytest.approx(-48.8, abs=0.5)
    assert plain - oversampled > 25


# -- gradients ---------------------------------------------------------------


def make(cls, oversampling=1):
    kwargs = {"order": 3} if cls is Chebyshev else {"hidden": 4} if cls is MLPWaveshaper else {}
    return cls(FS, oversampling=oversampling, **kwargs).double()


@pytest.mark.parametrize("cls", SHAPERS)
@pytest.mark.parametrize("oversampling", [1, 2])
def test_gradients_reach_every_parameter_including_per_sample_controls(cls, oversampling):
    torch.manual_seed(0)
    shaper = make(cls, oversampling)
    x = (0.5 * torch.randn(1, 2, 6, dtype=torch.float64)).requires_grad_()
    names = list(shaper.specs)
    # Raw controls near the defaults: per-sample for the first parameter, static for the rest.
    controls = [
        (shaper.raw[name].detach() + 0.3 * torch.randn(1, 1, 6 if i == 0 else 1, dtype=torch.float64)).requires_grad_()
        for i, name in enumerate(names)
    ]

    def run(x, *raw):
        return shaper(x, dict(zip(names, raw))).audio

    assert gradcheck(run, (x, *controls), eps=1e-6, atol=1e-6, fast_mode=True)
    if cls is MLPWaveshaper:  # and the ordinary weights of the network
        weights = {name: p.detach().clone().requires_grad_() for name, p in shaper.named_parameters() if "raw" not in name}

        def network(*tensors):
            return functional_call(shaper, dict(zip(weights, tensors)), (x.detach(),)).audio

        assert gradcheck(network, tuple(weights.values()), eps=1e-6, atol=1e-6, fast_mode=True)


# -- streaming ---------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,oversampling,dtype,tolerance",
    [(cls, factor, torch.float64, 1e-12) for cls in SHAPERS for factor in (1, 4)]
    + [(HardClip, 8, torch.float32, 1e-6), (MLPWaveshaper, 2, torch.float32, 1e-6)],
)
def test_streaming_in_random_blocks_equals_one_pass(cls, oversampling, dtype, tolerance):
    # float64: exact up to rounding (1e-12); float32: convolutions of different
    # lengths may sum in a different order, a few ulps of O(1) values (1e-6).
    torch.manual_seed(1)
    shaper = make(cls, oversampling).to(dtype)
    x = torch.randn(2, 2, 200, dtype=dtype)
    first = next(iter(shaper.specs))
    control = shaper.raw[first].detach() + 0.5 * torch.randn(2, 1, 200, dtype=dtype)
    assert_streams(shaper, x, {first: control}, atol=tolerance)


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("cls", SHAPERS)
def test_bad_input_raises_clear_errors(cls):
    shaper = make(cls)
    with pytest.raises(ValueError, match=r"\(batch, channels, samples\)"):
        shaper(torch.zeros(2, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN or Inf"):
        shaper(torch.full((1, 1, 4), math.nan, dtype=torch.float64))
    with pytest.raises(TypeError, match="sample_rate must be a number"):
        cls("48000")
    with pytest.raises(ValueError, match=r"input_gain_db must lie in \[-24, 36\] dB"):
        cls(FS, input_gain_db=40.0)
    with pytest.raises(ValueError, match=r"oversampling factor must be one of \(1, 2, 4, 8\)"):
        cls(FS, oversampling=3)


def test_bad_shaper_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match=r"knee must lie in \[0.01, 1\]"):
        HardClip(FS, knee=0.0)
    with pytest.raises(ValueError, match=r"bias must lie in \[-1, 1\]"):
        Asymmetric(FS, bias=1.5)
    with pytest.raises(ValueError, match=r"harmonic_2 must lie in \[-2, 2\]"):
        Chebyshev(FS, order=2, harmonics=[1.0, 3.0])
    with pytest.raises(ValueError, match="harmonics must hold 3 values"):
        Chebyshev(FS, order=3, harmonics=[1.0])
    with pytest.raises(ValueError, match="order must be an int >= 1"):
        Chebyshev(FS, order=0)
    with pytest.raises(TypeError, match="numerator must be a non-empty sequence"):
        Rational(FS, numerator=())
    with pytest.raises(ValueError, match="hidden must be an int >= 1"):
        MLPWaveshaper(FS, hidden=0)
    with pytest.raises(ValueError, match="0 < knee <= 2 \\* threshold"):
        hard_clip(torch.zeros(3), knee=0.0)
    with pytest.raises(ValueError, match="even number of samples"):
        downsample2(torch.zeros(1, 5), halfband_fir(0.1))
    with pytest.raises(ValueError, match="history must have shape"):
        upsample2(torch.zeros(2, 5), halfband_fir(0.1), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="not oversampling histories"):
        oversample(torch.tanh, torch.zeros(1, 4), 2, {"up.3": torch.zeros(1, 1)})
