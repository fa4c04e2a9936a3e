"""Fractional delay and universal comb against numpy/scipy references and closed forms.

Tolerances: float64 paths that do the same arithmetic as the reference (a
per-sample loop, the comb's impulse response g^k) agree to 1e-12 (rounding
only); np.interp to 5e-12 (it rounds the read position, see the test). A delay set through a processor goes through the sigmoid parameter map,
exact to about 1e-13 samples in float64, so its impulse response is held to 1e-9.
The band-limited test compares with the analytic delayed signal; there the
error is the interpolator's own, predicted exactly by its frequency response
for each sinusoid (a linear filter), and the measured error must sit between
0.5 and 1 times the sum of the per-tone bounds.
"""

import math

import numpy as np
import pytest
import torch

from ddsp_kit.functional.delay import feedback_comb, fractional_delay
from ddsp_kit.functional.utility import delay as integer_delay
from ddsp_kit.processors.delay import FeedbackComb, FractionalDelay
from processor_checks import assert_gradients, assert_streams

FS = 48000


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def wobble(steps, centre, amount, period):
    return centre + amount * torch.sin(2 * math.pi * torch.arange(steps, dtype=torch.float64) / period)


def test_linear_delay_matches_np_interp_with_a_modulated_delay():
    steps, pad = 3000, 16
    x = noise(2, steps)
    delay = wobble(steps, 7.0, 5.5, 700)
    y, _ = fractional_delay(x, delay, max_delay=13)
    # np.interp on the signal preceded by silence reads the same two neighbours.
    grid = np.arange(-pad, steps)
    padded = np.concatenate([np.zeros((2, pad)), x.numpy()], -1)
    reference = np.stack([np.interp(np.arange(steps) - delay.numpy(), grid, row) for row in padded])
    # np.interp interpolates at the position n - d, rounded to 4.5e-13 at n ~ 3000 (measured 7.9e-13).
    np.testing.assert_allclose(y.numpy(), reference, atol=5e-12)


@pytest.mark.parametrize("interpolation", ["linear", "lagrange"])
def test_whole_delays_are_exact(interpolation):
    x = noise(3, 500)
    for samples in (1, 4, 17):
        y, _ = fractional_delay(x, float(samples), max_delay=20, interpolation=interpolation)
        assert torch.equal(y, integer_delay(x, samples)[0])


def tone_error_bound(omega, fraction, interpolation):
    """|H(w) - e^{-j w f}| of the interpolator reading the taps around the whole part of the delay."""
    offsets = {"linear": [0, 1], "lagrange": [-1, 0, 1, 2]}[interpolation]
    f = fraction
    weights = {
        "linear": [1 - f, f],
        "lagrange": [-f * (f - 1) * (f - 2) / 6, (f + 1) * (f - 1) * (f - 2) / 2, -(f + 1) * f * (f - 2) / 2, (f + 1) * f * (f - 1) / 6],
    }[interpolation]
    response = sum(w * np.exp(-1j * omega * o) for w, o in zip(weights, offsets))
    return abs(response - np.exp(-1j * omega * f))


@pytest.mark.parametrize("interpolation", ["linear", "lagrange"])
def test_band_limited_signal_matches_its_analytic_delay(interpolation):
    # Tones up to fs / 8: the interpolation error of each is |H(w) - e^{-jwf}| of its amplitude.
    delay, steps = 7.3, 4000
    freqs = np.array([300.0, 1100.0, 2900.0, 6000.0])
    amps = np.array([0.5, 0.3, 0.15, 0.05])
    n = np.arange(steps)
    tones = lambda shift: sum(a * np.sin(2 * np.pi * f * (n - shift) / FS + f / 1000) for a, f in zip(amps, freqs))
    y, _ = fractional_delay(torch.tensor(tones(0.0)), delay, max_delay=10, interpolation=interpolation)
    error = np.abs(y.numpy() - tones(delay))[20:].max()  # after the line has filled
    bound = sum(a * tone_error_bound(2 * np.pi * f / FS, delay % 1, interpolation) for a, f in zip(amps, freqs))
    assert 0.5 * bound <= error <= bound + 1e-12, (error, bound)
    # Measured on a signal peaking near 1: 6.1e-3 linear, 4.1e-4 Lagrange (15 times smaller).
    assert error < {"linear": 7e-3, "lagrange": 5e-4}[interpolation], error


@pytest.mark.parametrize("interpolation", ["linear", "lagrange"])
def test_gradient_with_respect_to_the_delay_matches_finite_differences(interpolation):
    x = noise(1, 400, seed=1)
    delay = wobble(400, 9.37, 3.1, 150).requires_grad_()
    run = lambda d: fractional_delay(x, d, max_delay=14, interpolation=interpolation)[0]
    weights = noise(1, 400, seed=2)
    (grad,) = torch.autograd.grad((run(delay) * weights).sum(), delay)
    h = 1e-6  # the delays stay 1e-3 away from whole samples, where the derivative steps
    assert float(((delay.detach() + 0.5) % 1 - 0.5).abs().min()) > 1e-3
    numeric = ((run(delay.detach() + h) - run(delay.detach() - h)) * weights / (2 * h)).squeeze(0)
    torch.testing.assert_close(grad, numeric, rtol=0, atol=1e-7)


@pytest.mark.parametrize("interpolation", ["linear", "lagrange"])
def test_fractional_delay_streams_and_has_gradients(interpolation):
    line = FractionalDelay(FS, delay_ms=0.21, max_delay_ms=0.4, interpolation=interpolation).double()
    x = noise(2, 2, 600)
    wobbling = {"delay_ms": line.to_raw("delay_ms", wobble(600, 0.2, 0.15, 230)).reshape(1, 1, -1)}
    assert_streams(line, x, atol=1e-12)
    assert_streams(line, x, wobbling, atol=1e-12)
    short = FractionalDelay(1000, delay_ms=3.4, max_delay_ms=8.0, interpolation=interpolation)
    assert_gradients(short, noise(1, 2, 24))
    assert_gradients(short, noise(1, 2, 24), per_sample=True)


def comb_reference(x, delay, g, blend, feedforward):
    """Per-sample loop of the universal comb with a linearly interpolated read."""
    w, y = np.zeros_like(x), np.zeros_like(x)
    read = lambda m: w[..., m] if m >= 0 else 0.0
    for n in range(x.shape[-1]):
        k = math.floor(delay[n])
        f = delay[n] - k
        tap = (1 - f) * read(n - k) + f * read(n - k - 1)
        w[..., n] = x[..., n] + g[n] * tap
        y[..., n] = blend * w[..., n] + feedforward * tap
    return y


def test_comb_impulse_response_is_g_to_the_k_at_k_delays():
    steps, lag, g = 400, 37, -0.8
    impulse = torch.zeros(steps, dtype=torch.float64)
    impulse[0] = 1
    expected = torch.zeros(steps, dtype=torch.float64)
    expected[::lag] = g ** torch.arange(len(range(0, steps, lag)), dtype=torch.float64)
    scan, _ = feedback_comb(impulse, lag, g, max_delay=50)  # a whole delay: the interleaved scan
    torch.testing.assert_close(scan, expected, rtol=0, atol=1e-12)
    comb = FeedbackComb(FS, delay_ms=0.5, max_delay_ms=2.0).double()
    # float64 controls: the float32 learnable values would round the delay and the gains by 1e-8.
    values = {"delay_ms": 1000 * lag / FS, "feedback": g, "blend": 1.0, "feedforward": 0.0}
    controls = {name: comb.to_raw(name, value).reshape(1, 1, 1) for name, value in values.items()}
    loop = comb(impulse.reshape(1, 1, -1), controls).audio.detach()[0, 0]  # a learnable delay: the chunked loop
    torch.testing.assert_close(loop, expected, rtol=0, atol=1e-9)


def test_whole_delay_scan_equals_the_chunked_loop_with_per_sample_feedback():
    x = noise(3, 500, seed=3)
    g = wobble(500, 0.3, 0.6, 90)
    scan, scan_line = feedback_comb(x, 11, g, max_delay=20, blend=0.5, feedforward=-0.7)
    loop, loop_line = feedback_comb(x, torch.tensor([11.0], dtype=torch.float64).requires_grad_(), g, max_delay=20, blend=0.5, feedforward=-0.7)
    torch.testing.assert_close(scan, loop.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(scan_line, loop_line.detach(), rtol=0, atol=1e-12)


def test_modulated_fractional_comb_matches_per_sample_loop():
    x = noise(2, 900, seed=4)
    delay, g = wobble(900, 6.0, 4.5, 310), wobble(900, 0.2, 0.7, 170)
    y, _ = feedback_comb(x, delay, g, max_delay=12, blend=0.4, feedforward=0.9)
    np.testing.assert_allclose(y.numpy(), comb_reference(x.numpy(), delay.numpy(), g.numpy(), 0.4, 0.9), atol=1e-12)


def test_comb_with_blend_minus_g_and_feedforward_one_is_an_allpass():
    g, lag, steps = 0.7, 23, 8192
    impulse = torch.zeros(steps, dtype=torch.float64)
    impulse[0] = 1
    response, _ = feedback_comb(impulse, lag, g, max_delay=30, blend=-g, feedforward=1.0)
    magnitude = np.abs(np.fft.rfft(response.numpy()))  # the tail g^(8192/23) is negligible
    np.testing.assert_allclose(magnitude, 1.0, atol=1e-9)


def test_comb_is_stable_for_every_parameter_value():
    # Raw controls far outside the usual range, wildly modulated: the output obeys
    # |y| <= (|blend| + |feedforward|) max|x| / (1 - max|g|), whatever the delay does.
    steps = 3000
    comb = FeedbackComb(FS, delay_ms=0.5, max_delay_ms=1.0).double()
    x = noise(2, 1, steps, seed=5).clamp(-1, 1)
    g = torch.Generator().manual_seed(6)
    for extreme in (-30.0, 30.0):
        controls = {name: extreme + 20 * torch.randn(2, 1, steps, generator=g, dtype=torch.float64) for name in comb.specs}
        result = comb(x, controls)
        gain = result.params["feedback"].abs().max()
        bound = (result.params["blend"].abs().max() + result.params["feedforward"].abs().max()) / (1 - gain)
        assert bool(torch.isfinite(result.audio).all())
        assert float(result.audio.abs().max()) <= float(bound)


def test_comb_streams_and_has_gradients():
    comb = FeedbackComb(FS, delay_ms=0.3, max_delay_ms=0.5, feedback=0.9, feedforward=0.4, blend=0.8).double()
    x = noise(2, 1, 1200, seed=7)
    controls = {
        "delay_ms": comb.to_raw("delay_ms", wobble(1200, 0.25, 0.2, 500)).reshape(1, 1, -1),
        "feedback": comb.to_raw("feedback", wobble(1200, 0.0, 0.95, 300)).reshape(1, 1, -1),
    }
    assert_streams(comb, x, atol=1e-12)
    assert_streams(comb, x, controls, atol=1e-12)
    short = FeedbackComb(1000, delay_ms=3.3, max_delay_ms=6.0, feedback=0.6, feedforward=0.3, blend=0.7)
    assert_gradients(short, noise(1, 1, 30))
    assert_gradients(short, noise(1, 1, 30), per_sample=True)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: fractional_delay(torch.zeros(8), 3.0, max_delay=2), ValueError, r"delay must lie in \[0, 2\] samples"),
        (lambda: fractional_delay(torch.zeros(8), 0.5, max_delay=4, interpolation="lagrange"), ValueError, r"delay must lie in \[1, 4\]"),
        (lambda: fractional_delay(torch.zeros(8), 1.0, max_delay=4, interpolation="cubic"), ValueError, "interpolation must be one of"),
        (lambda: fractional_delay(torch.zeros(8), 1.0, max_delay=4.0), ValueError, "max_delay must be an int"),
        (lambda: fractional_delay(torch.zeros(8), torch.zeros(3), max_delay=4), ValueError, r"delay must be \(\.\.\., 8 samples or 1\)"),
        (lambda: fractional_delay(torch.zeros(8), float("nan"), max_delay=4), ValueError, "delay holds NaN"),
        (lambda: fractional_delay(torch.zeros(8), 1.0, max_delay=4, history=torch.zeros(3)), ValueError, "history must hold the last 5"),
        (lambda: fractional_delay([0.0, 1.0], 1.0, max_delay=4), TypeError, "x must be a torch.Tensor"),
        (lambda: feedback_comb(torch.zeros(8), 0, 0.5, max_delay=4), ValueError, r"delay must lie in \[1, 4\] samples"),
        (lambda: feedback_comb(torch.zeros(8), float("inf"), 0.5, max_delay=4), ValueError, "delay holds NaN or Inf"),
        (lambda: feedback_comb(torch.zeros(8), 2, 1.0, max_delay=4), ValueError, r"feedback must lie in \(-1, 1\)"),
        (lambda: feedback_comb(torch.zeros(2, 8), 2, torch.zeros(3, 1), max_delay=4), ValueError, "batch dims do not broadcast"),
        (lambda: FractionalDelay(FS, delay_ms=30.0, max_delay_ms=20.0), ValueError, r"delay_ms must lie in \[0, 20\] ms"),
        (lambda: FractionalDelay(FS, max_delay_ms=0.0), ValueError, "max_delay_ms must be a finite number"),
        (lambda: FeedbackComb(FS, feedback=1.0), ValueError, r"feedback must lie in \[-0.999, 0.999\]"),
        (lambda: FeedbackComb("48k"), TypeError, "sample_rate must be a number"),
    ],
)
def test_bad_input_raises(call, error, message):
    with pytest.raises(error, match=message):
        call()
