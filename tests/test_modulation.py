"""LFO, tremolo, chorus, flanger and phaser against closed forms and measurements of their output.

Tolerances: float64 paths doing the reference's arithmetic (the LFO formula,
scipy's lfilter, a per-sample loop) agree to 1e-12. Physical values reach the
blocks through float64 controls (``to_raw`` on a float64 block), exact to about
1e-13; a rate control of raw -40 is 20 sigmoid(-40) = 8e-17 Hz, an LFO frozen
to 1e-15 over a second. Measured figures (rate, depth, delay, notches) come
from fits to the output, with the error of each method stated where it is used.
"""

import math

import numpy as np
import pytest
import scipy.optimize as so
import scipy.signal as ss
import torch

from ddsp_kit.functional.modulation import allpass_cascade, lfo, tremolo
from ddsp_kit.processors.modulation import Chorus, Flanger, Phaser, Tremolo
from processor_checks import assert_gradients, assert_streams, raw_controls

FS = 48000


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def physical(block, **values):
    """float64 static controls setting ``values`` exactly (the float32 learnable values round by 1e-8)."""
    return {name: block.to_raw(name, value).reshape(1, 1, 1) for name, value in values.items()}


def run(block, x, controls):
    return block.double()(torch.as_tensor(x).reshape(1, 1, -1), controls).audio.detach()[0, 0].numpy()


def fit_sine(t, values, rate_guess):
    """``(centre, amplitude, rate)`` of ``centre + amplitude sin(2 pi rate t + phase)`` fitted to ``values``.

    The start comes from the peak of the signal's Fourier sum over rates near
    ``rate_guess``, so that the least-squares fit starts within its basin.
    """
    rates = np.linspace(0.5 * rate_guess, 2 * rate_guess, 1501)
    spectrum = np.exp(-2j * np.pi * np.outer(rates, t)) @ (values - values.mean())
    best = np.abs(spectrum).argmax()
    start = [values.mean(), np.ptp(values) / 2, rates[best], np.angle(spectrum[best]) + np.pi / 2]
    model = lambda t, centre, amplitude, rate, phase: centre + amplitude * np.sin(2 * np.pi * rate * t + phase)
    (centre, amplitude, rate, _), _ = so.curve_fit(model, t, values, p0=start)
    return centre, abs(amplitude), rate


def test_lfo_matches_its_closed_forms():
    n = np.arange(1000)
    for shape, reference in (("sine", np.sin), ("triangle", lambda w: ss.sawtooth(w + np.pi / 2, 0.5))):
        values, phase = lfo(torch.tensor([3.7], dtype=torch.float64), 1000, sample_rate=FS, shape=shape, phase=torch.tensor([0.3], dtype=torch.float64))
        cycles = 0.3 + 3.7 * n / FS
        np.testing.assert_allclose(values.numpy(), reference(2 * np.pi * cycles), atol=1e-12)
        assert float(phase) == pytest.approx((0.3 + 3.7 * 1000 / FS) % 1, abs=1e-12)


def test_lfo_with_per_sample_rate_integrates_the_rate_and_streams():
    rate = torch.linspace(0.0, 15.0, 3000, dtype=torch.float64)
    values, _ = lfo(rate, 3000, sample_rate=FS)
    cycles = np.concatenate([[0.0], np.cumsum(rate.numpy() / FS)[:-1]])
    np.testing.assert_allclose(values.numpy(), np.sin(2 * np.pi * cycles), atol=1e-12)
    pieces, phase = [], None
    for start, stop in ((0, 1), (1, 2), (2, 700), (700, 3000)):
        piece, phase = lfo(rate[start:stop], stop - start, sample_rate=FS, phase=phase)
        pieces.append(piece)
    torch.testing.assert_close(torch.cat(pieces), values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", ["sine", "triangle"])
def test_tremolo_rate_and_depth_measured_from_the_envelope(shape):
    # The Hilbert envelope of a 1 kHz carrier follows the gain closely away from the
    # ends (0.1 s trimmed): fitted rate and depth within 1e-7 (measured), held to 1e-6.
    block = Tremolo(FS, shape=shape)
    n = np.arange(2 * FS)
    y = run(block, np.sin(2 * np.pi * 1000 * n / FS), physical(block.double(), rate=5.3, depth=0.6))
    kept = slice(FS // 10, -FS // 10, 16)  # every 16th sample is plenty for a 5 Hz fit
    envelope, t = np.abs(ss.hilbert(y))[kept], n[kept] / FS
    if shape == "sine":
        centre, amplitude, rate = fit_sine(t, envelope, 5.0)
        assert rate == pytest.approx(5.3, abs=1e-6)
        assert centre + amplitude == pytest.approx(1.0, abs=1e-6)  # the gain's peak
        assert 2 * amplitude == pytest.approx(0.6, abs=1e-6)  # its swing: the depth
    else:
        expected = 1 - 0.6 * (1 - ss.sawtooth(2 * np.pi * 5.3 * t + np.pi / 2, 0.5)) / 2
        np.testing.assert_allclose(envelope, expected, atol=1e-3)  # Hilbert's error at the corners


def test_chorus_delay_rate_and_depth_measured_from_echoes():
    # Impulses every 50 ms: each comes back once, its two interpolated taps
    # centred on the delay at that moment (exact for a constant delay; the
    # sweep moves it by 5e-4 samples between the taps).
    block = Chorus(FS)
    x = np.zeros(2 * FS)
    x[::2400] = 1
    y = run(block, x, physical(block.double(), rate=1.3, depth_ms=3.0, delay_ms=12.0, mix=0.5))
    times, delays = [], []
    for start in range(0, 2 * FS - 2400, 2400):
        echo, index = y[start + 1 : start + 2400], np.arange(start + 1, start + 2400)
        arrival = (echo * index).sum() / echo.sum()
        times.append(arrival)
        delays.append(1000 * (arrival - start) / FS)
    centre, depth, rate = fit_sine(np.array(times) / FS, np.array(delays), 1.0)
    assert rate == pytest.approx(1.3, abs=1e-4)
    assert depth == pytest.approx(3.0, abs=2e-4)
    assert centre == pytest.approx(12.0, abs=2e-4)


def test_flanger_notches_sweep_at_the_lfo_rate():
    # Without feedback at mix 0.5 the response is cos(pi f d) e^{-j pi f d}:
    # notches at odd multiples of 1 / (2 d). An 80 Hz probe stays below the
    # first notch (f d < 1/2), so its Hilbert envelope gives d(t) = arccos(env) / (pi f).
    block = Flanger(FS)
    n, probe = np.arange(2 * FS), 80.0
    y = run(block, np.sin(2 * np.pi * probe * n / FS), physical(block.double(), rate=1.7, depth_ms=2.0, delay_ms=3.5, mix=0.5, feedback=0.0))
    kept = slice(FS // 5, -FS // 5, 16)
    delay_ms = 1000 * np.arccos(np.abs(ss.hilbert(y))[kept].clip(-1, 1)) / (np.pi * probe)
    centre, depth, rate = fit_sine(n[kept] / FS, delay_ms, 1.5)
    assert rate == pytest.approx(1.7, abs=1e-4)
    assert depth == pytest.approx(2.0, abs=2e-4)
    assert centre == pytest.approx(3.5, abs=2e-4)
    first_notch = 1000 / (2 * delay_ms)  # Hz: sweeps between 1 / (2 (3.5 +- 2) ms)
    assert first_notch.min() == pytest.approx(1000 / 11, rel=1e-3)
    assert first_notch.max() == pytest.approx(1000 / 3, rel=1e-2)


def dtft(h, frequency):
    """The frequency response of the impulse response ``h`` at ``frequency`` Hz."""
    return np.exp(-2j * np.pi * frequency / FS * np.arange(len(h))) @ h


@pytest.mark.parametrize(
    "stages, phase, break_frequency",
    [(2, 0.0, math.sqrt(200 * 2000)), (4, 0.0, math.sqrt(200 * 2000)), (6, 0.0, math.sqrt(200 * 2000)), (4, 0.25, 2000.0), (4, 0.75, 200.0)],
)
def test_phaser_notches_follow_allpass_theory(stages, phase, break_frequency):
    # LFO frozen at sin(2 pi phase): the break frequency is the sweep's mean, top
    # or bottom. Notches of the 50% mix where the cascade's phase is -pi (2m + 1).
    block = Phaser(FS, stages=stages, phase=phase).double()
    controls = physical(block, min_frequency=200.0, max_frequency=2000.0, mix=0.5)
    controls["rate"] = torch.full((1, 1, 1), -40.0, dtype=torch.float64)
    impulse = np.zeros(1 << 13)
    impulse[0] = 1
    response = run(block, impulse, controls)  # poles at most 0.974 (200 Hz): the tail is below 1e-90
    controls["mix"] = block.to_raw("mix", 1.0).reshape(1, 1, 1)
    cascade = run(block, impulse, controls)
    spread = math.tan(math.pi * break_frequency / FS)
    for m in range(stages // 2):  # the odd multiples 2m + 1 < stages, below Nyquist
        predicted = FS / math.pi * math.atan(spread * math.tan(math.pi * (2 * m + 1) / (2 * stages)))
        magnitude = lambda f: abs(dtft(response, f))
        assert magnitude(predicted) < 1e-12
        found = so.minimize_scalar(magnitude, bounds=(0.8 * predicted, 1.2 * predicted), method="bounded", options={"xatol": 1e-9}).x
        assert found == pytest.approx(predicted, rel=1e-6)
        angle = np.angle(dtft(cascade, predicted))
        assert abs(abs(angle) - math.pi) < 1e-9  # -pi (2m + 1), wrapped


def cascade_reference(x, frequency, stages, feedback):
    """Per-sample loop of the normalised-lattice all-pass cascade with feedback from the last stage."""
    lattice, out, last = np.zeros(stages), np.empty_like(x), 0.0
    for n in range(x.shape[-1]):
        t = math.tan(math.pi * frequency[n] / FS)
        a, c = (t - 1) / (t + 1), math.sqrt(1 - ((t - 1) / (t + 1)) ** 2)
        u = x[n] + feedback * last
        for i in range(stages):
            u, lattice[i] = a * u + c * lattice[i], c * u - a * lattice[i]
        out[n] = last = u
    return out


def test_allpass_cascade_matches_scipy_and_a_per_sample_loop():
    x = noise(2, 1500, seed=1)
    a = (math.tan(math.pi * 700 / FS) - 1) / (math.tan(math.pi * 700 / FS) + 1)
    reference = x.numpy()
    for _ in range(4):
        reference = ss.lfilter([a, 1.0], [1.0, a], reference)
    np.testing.assert_allclose(allpass_cascade(x, 700.0, stages=4, sample_rate=FS)[0].numpy(), reference, atol=1e-12)
    sweep = 500 * 2 ** (2 * torch.sin(torch.arange(1500, dtype=torch.float64) / 60))  # +-2 octaves at audio rate
    for feedback in (0.0, 0.7, -0.9):
        ours, _ = allpass_cascade(x[0], sweep, stages=5, sample_rate=FS, feedback=feedback)
        np.testing.assert_allclose(ours.numpy(), cascade_reference(x[0].numpy(), sweep.numpy(), 5, feedback), atol=1e-12)
    scans, scan_state = allpass_cascade(x, sweep, stages=5, sample_rate=FS)
    loop, loop_state = allpass_cascade(x, sweep, stages=5, sample_rate=FS, feedback=0.0)
    torch.testing.assert_close(scans, loop, rtol=0, atol=1e-12)
    torch.testing.assert_close(scan_state, loop_state, rtol=0, atol=1e-12)


def test_swept_cascade_is_lossless_and_its_feedback_loop_bounded():
    # Random break frequencies every sample (20 Hz to 20 kHz): each lattice stage is an
    # orthogonal map, so output energy plus the energy left in the states equals the
    # input energy; with feedback k the energy gain is at most 1 / (1 - |k|)^2.
    x = noise(3, 4000, seed=5)
    g = torch.Generator().manual_seed(6)
    frequency = 20 * 1000 ** torch.rand(3, 4000, generator=g, dtype=torch.float64)
    y, state = allpass_cascade(x, frequency, stages=8, sample_rate=FS)
    torch.testing.assert_close(y.square().sum(-1) + state[..., :8].square().sum(-1), x.square().sum(-1), rtol=1e-12, atol=0)
    for feedback in (0.95, -0.95):
        y, _ = allpass_cascade(x, frequency, stages=8, sample_rate=FS, feedback=feedback)
        assert bool((y.square().sum(-1) <= x.square().sum(-1) / (1 - abs(feedback)) ** 2).all())


def test_tremolo_function_gain():
    x = noise(1, 50)
    modulator = torch.linspace(-1, 1, 50, dtype=torch.float64)
    torch.testing.assert_close(tremolo(x, modulator, 0.8), x * (1 - 0.4 * (1 - modulator)), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Tremolo(FS, rate=7.0, shape="triangle", phase=0.4),
        lambda: Chorus(FS, rate=3.0, interpolation="lagrange"),
        lambda: Flanger(FS, rate=2.0, feedback=0.8, phase=0.75),
        lambda: Phaser(FS, stages=6, rate=2.0),
        lambda: Phaser(FS, stages=3, rate=2.0, feedback=-0.6, shape="triangle"),
    ],
)
def test_modulation_blocks_stream_with_a_continuous_lfo(make):
    # The LFO phase travels in the state: any block sizes, including 1, give the one-pass output.
    # A per-sample rate's phase is summed block by block, in another order than in one pass:
    # rounding of 1e-16 cycles, which the flanger's feedback carries to ~1e-12; held to 1e-10.
    block = make().double()
    x = noise(2, 2, 800, seed=2)
    assert_streams(block, x, atol=1e-12)
    assert_streams(block, x, raw_controls(block, 800, per_sample=True), atol=1e-10)


@pytest.mark.parametrize(
    "make, sample_rate, steps",
    [
        (lambda fs: Tremolo(fs, rate=9.0, depth=0.7), 1000, 40),
        (lambda fs: Chorus(fs, rate=15.0, depth_ms=3.0, delay_ms=8.0), 2000, 40),
        (lambda fs: Chorus(fs, rate=15.0, depth_ms=3.0, delay_ms=8.0, interpolation="lagrange"), 2000, 40),
        (lambda fs: Flanger(fs, rate=15.0, feedback=0.6), 2000, 40),
        (lambda fs: Phaser(fs, stages=2, rate=15.0, min_frequency=100.0, max_frequency=1000.0), 4000, 16),
        (lambda fs: Phaser(fs, stages=2, rate=15.0, min_frequency=100.0, max_frequency=1000.0, feedback=0.5), 4000, 16),
    ],
)
def test_gradients_reach_every_parameter(make, sample_rate, steps):
    # Low sample rates keep the delays a few samples long in a 40-sample signal; the
    # phasers need no delay to fill, and 16 samples keep their many scans quick.
    block = make(sample_rate)
    assert_gradients(block, noise(1, 1, steps, seed=3))
    assert_gradients(block, noise(1, 1, steps, seed=3), per_sample=True)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: lfo(1.0, 0, sample_rate=FS), ValueError, "num_samples must be an int >= 1"),
        (lambda: lfo(-1.0, 8, sample_rate=FS), ValueError, r"rate must lie in \[0, 24000\] Hz"),
        (lambda: lfo(1.0, 8, sample_rate=FS, shape="square"), ValueError, "shape must be one of"),
        (lambda: lfo(1.0, 8, sample_rate=FS, phase=torch.zeros(2)), ValueError, r"phase must be \(\.\.\., 1\) cycles"),
        (lambda: tremolo(torch.zeros(4), torch.zeros(4), 1.5), ValueError, r"depth must lie in \[0, 1\]"),
        (lambda: allpass_cascade(torch.zeros(4), 24000.0, stages=2, sample_rate=FS), ValueError, r"frequency must lie in \(0, 24000\) Hz"),
        (lambda: allpass_cascade(torch.zeros(4), 100.0, stages=0, sample_rate=FS), ValueError, "stages must be an int >= 1"),
        (lambda: allpass_cascade(torch.zeros(4), 100.0, stages=2, sample_rate=FS, feedback=-1.0), ValueError, "feedback must lie in"),
        (lambda: allpass_cascade(torch.zeros(4), 100.0, stages=2, sample_rate=FS, state=torch.zeros(2)), ValueError, r"state must be \(\.\.\., stages \+ 1 = 3\)"),
        (lambda: Tremolo(FS, shape="square"), ValueError, "shape must be one of"),
        (lambda: Tremolo(FS, phase=1.0), ValueError, r"phase must be a number of cycles in \[0, 1\)"),
        (lambda: Tremolo(FS, depth=2.0), ValueError, r"depth must lie in \[0, 1\]"),
        (lambda: Chorus(FS, delay_ms=2.0), ValueError, r"delay_ms must lie in \[5, 40\] ms"),
        (lambda: Chorus(FS, interpolation="sinc"), ValueError, "interpolation must be one of"),
        (lambda: Flanger(FS, depth_ms=3.0), ValueError, r"depth_ms must lie in \[0, 2.25\] ms"),
        (lambda: Phaser(FS, stages=0), ValueError, "stages must be an int >= 1"),
        (lambda: Phaser(FS, feedback=1.0), ValueError, r"feedback must lie in \[-0.95, 0.95\]"),
    ],
)
def test_bad_input_raises(call, error, message):
    with pytest.raises(error, match=message):
        call()
