"""Noise: reproducible by seed whatever the blocks, white, and filtered to the requested spectrum.

Tolerances: white noise is generated sample by sample from a counter, so
block-wise generation equals one pass bit for bit. Filtered noise runs FFT
convolutions whose sizes depend on the blocks, so streams agree with one pass
to float64 rounding (1e-12). Spectra are Welch averages over many frames: a
PSD bin averaged over K segments has a standard deviation of about
4.34 / sqrt(K) dB (half-overlapping Hann segments are nearly independent):
0.07 dB for segments of 256 over 2**19 samples (K = 4095), 0.14 dB for
segments of 1024 (K = 1023), 0.19 dB over half of that. Bounds on the largest
deviation over all bins sit at 4 to 7 of those deviations, plus the filter
design's own error; measured deviations are stated at each test.
"""

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch

from ddsp_kit.chain import Chain
from ddsp_kit.export import load_model, save_model
from ddsp_kit.functional.noise import filtered_noise, minimum_phase_fir, white_noise
from ddsp_kit.processors.noise import FilteredNoise, WhiteNoise
from ddsp_kit.processors.oscillators import Sine
from processor_checks import assert_gradients, assert_streams

FS = 16000


def test_white_noise_is_reproducible_and_independent_of_blocks():
    noise = WhiteNoise(FS, amplitude=0.5, seed=11).double()
    x = torch.zeros(2, 3, 700, dtype=torch.float64)
    first = noise(x).audio.detach()
    assert torch.equal(first, WhiteNoise(FS, amplitude=0.5, seed=11).double()(x).audio)
    assert not torch.equal(first, WhiteNoise(FS, amplitude=0.5, seed=12).double()(x).audio)
    assert_streams(noise, x, atol=0.0)  # bit for bit, with blocks of 1 and random sizes
    # Every row and channel is its own stream.
    rows = first.reshape(6, -1)
    assert float(torch.corrcoef(rows).sub(torch.eye(6, dtype=torch.float64)).abs().max()) < 0.15  # 4 / sqrt(700)


def test_counter_crosses_32_bits_without_repeating():
    start = (1 << 32) - 5
    whole = white_noise((1, 1, 10), seed=0, start=start, dtype=torch.float64)
    parts = torch.cat([white_noise((1, 1, 5), seed=0, start=start + i, dtype=torch.float64) for i in (0, 5)], -1)
    assert torch.equal(whole, parts)
    assert not torch.equal(whole[..., 5:], white_noise((1, 1, 5), seed=0, dtype=torch.float64))


@pytest.mark.parametrize("distribution, variance", [("uniform", 1 / 3), ("gaussian", 1.0)])
def test_white_noise_statistics_and_flat_spectrum(distribution, variance):
    samples = 1 << 19
    y = white_noise((1, 1, samples), seed=5, distribution=distribution, dtype=torch.float64).numpy().ravel()
    # Mean and variance within 5 standard errors (the variance's: sqrt(2 / n) for Gaussian, less for uniform).
    assert abs(y.mean()) < 5 * math.sqrt(variance / samples)
    assert y.var() == pytest.approx(variance, rel=5 * math.sqrt(2 / samples))
    if distribution == "uniform":
        assert y.min() > -1 and y.max() < 1
    else:
        kurtosis = np.mean(y**4) / y.var() ** 2
        assert kurtosis == pytest.approx(3.0, abs=0.05)
    # Flat: every bin within 0.5 dB (7 standard deviations) of the variance; measured 0.17 and 0.19 dB.
    frequencies, psd = ss.welch(y, fs=FS, nperseg=256, detrend=False)
    level = 10 * np.log10(psd[1:-1] * FS / 2 / variance)
    assert np.abs(level).max() < 0.5


def smooth_curve(bands):
    """A smooth response spanning 30 dB: a low shelf, a bump near a third of Nyquist, a fall to the top."""
    position = np.linspace(0, 1, bands)
    return -20 + 10 * np.cos(np.pi * position) + 8 * np.exp(-((position - 0.35) / 0.1) ** 2) - 10 * position**2


def measured_db(y, bands):
    """Welch PSD of ``y`` at the band frequencies, as a gain in dB relative to unfiltered uniform noise."""
    frequencies, psd = ss.welch(y, fs=FS, nperseg=1024, detrend=False)
    at = np.linspace(0, FS / 2, bands)
    return 10 * np.log10(np.interp(at, frequencies, psd) * FS / 2 / (1 / 3))


def test_filtered_noise_spectrum_follows_the_band_magnitudes():
    # 33 bands at 16 kHz (every 250 Hz). Measured: within 0.25 dB at every band, 0.14 dB RMS (the
    # estimate's own deviation); the minimum-phase design alone is within 0.11 dB of this curve.
    bands = 33
    target = smooth_curve(bands)
    noise = FilteredNoise(FS, n_bands=bands, hop=128, **{f"band{k + 1}": 10 ** (v / 20) for k, v in enumerate(target)}).double()
    requested = 20 * np.log10([noise.values()[f"band{k + 1}"] for k in range(bands)])
    y = noise(torch.zeros(1, 1, 1 << 19, dtype=torch.float64)).audio.detach().numpy().ravel()
    error = measured_db(y, bands)[1:-1] - requested[1:-1]  # Welch's end bins hold half the average
    assert np.abs(error).max() < 0.6
    assert np.sqrt(np.mean(error**2)) < 0.25


def test_filtered_noise_follows_frame_rate_magnitudes():
    # Frame-rate controls: a low-pass for the first half of the frames, a high-pass for the second.
    # Frame m uses the magnitudes at its first sample (one frame late for frame-rate controls), so
    # each half is measured away from the switch. Measured: within 0.27 and 0.43 dB of the responses.
    bands, hop, frames = 17, 128, 4096
    low = np.linspace(0, -30, bands)
    noise = FilteredNoise(FS, n_bands=bands, hop=hop).double()
    gains = np.where(np.arange(frames)[:, None] < frames // 2, low, low[::-1])  # (frames, bands)
    controls = {
        f"band{k + 1}": noise.to_raw(f"band{k + 1}", torch.tensor(10 ** (gains[:, k] / 20))).reshape(1, 1, -1) for k in range(bands)
    }
    y = noise(torch.zeros(1, 1, frames * hop, dtype=torch.float64), controls).audio.detach().numpy().ravel()
    half = frames * hop // 2
    for segment, curve in ((y[hop * 4 : half], low), (y[half + hop * 4 :], low[::-1])):
        error = measured_db(segment, bands)[1:-1] - curve[1:-1]
        assert np.abs(error).max() < 0.8


def test_design_is_minimum_phase_and_matches_the_magnitudes():
    bands, taps = 65, 128
    target = smooth_curve(bands)
    h = minimum_phase_fir(torch.tensor(10 ** (target / 20)), taps).numpy()
    response = 20 * np.log10(np.abs(np.fft.rfft(h, 2 * (bands - 1) * 16)))
    wanted = np.interp(np.arange(len(response)) / 16, np.arange(bands), target)
    assert np.abs(response - wanted).max() < 0.1  # measured 0.04 dB on this curve
    assert np.abs(np.roots(h)).max() < 1  # every zero inside the unit circle: minimum phase


@pytest.mark.parametrize("per_sample", [False, True])
def test_filtered_noise_streams_exactly(per_sample):
    noise = FilteredNoise(FS, n_bands=9, hop=24, seed=4, band2=0.5, band7=0.01).double()
    x = torch.randn(2, 2, 700, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    controls = None
    if per_sample:  # frames starting in one block and continuing in the next keep their filter
        t = torch.linspace(0, 1, 700, dtype=torch.float64).reshape(1, 1, -1)
        controls = {n: noise.raw[n].detach().reshape(1, 1, 1) + torch.sin(7 * t + i) for i, n in enumerate(noise.specs)}
    assert_streams(noise, x, controls, atol=1e-12)


def test_flat_filtered_noise_is_the_white_noise():
    y, _ = filtered_noise(torch.ones(1, 1, 1, 5, dtype=torch.float64), (2, 1, 300), hop=7, taps=8, seed=9)
    assert torch.allclose(y, white_noise((2, 1, 300), seed=9, dtype=torch.float64), atol=1e-12)


def test_generators_add_onto_the_bus_in_a_chain():
    sine, noise = Sine(FS, 440.0, 0.5).double(), WhiteNoise(FS, 0.1, seed=2).double()
    x = torch.randn(1, 2, 500, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    zeros = torch.zeros_like(x)
    expected = x + sine(zeros).audio + noise(zeros).audio
    assert torch.allclose(Chain(sine, noise)(x).audio, expected, atol=1e-12)
    assert_streams(Chain(sine, noise), x, atol=1e-9)


@pytest.mark.parametrize("per_sample", [False, True])
def test_gradients_reach_every_band(per_sample):
    # Three frames of four samples, each with its own filter when the controls are per sample.
    assert_gradients(FilteredNoise(FS, n_bands=3, hop=4, taps=5, band1=0.3, band3=0.02), torch.zeros(1, 1, 12), per_sample=per_sample)


def test_white_noise_level_gets_gradients():
    assert_gradients(WhiteNoise(FS, amplitude=0.3, distribution="gaussian"), torch.zeros(1, 2, 30))


@pytest.mark.parametrize(
    "make", [lambda: WhiteNoise(FS, 0.2, seed=7, distribution="gaussian"), lambda: FilteredNoise(FS, n_bands=5, hop=32, taps=12, seed=3)]
)
def test_model_file_round_trip(make, tmp_path):
    processor = make()
    with torch.no_grad():
        for value in processor.parameters():
            value.add_(0.1)
    loaded = load_model(save_model(processor, tmp_path / "noise.safetensors"))
    x = torch.zeros(2, 1, 300)
    assert torch.equal(processor(x).audio, loaded(x).audio)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: WhiteNoise(FS, seed=-1), ValueError, "seed"),
        (lambda: WhiteNoise(FS, seed=1.5), TypeError, "seed must be an int"),
        (lambda: WhiteNoise(FS, distribution="pink"), ValueError, "distribution"),
        (lambda: WhiteNoise(FS, amplitude=2.0), ValueError, "amplitude must lie"),
        (lambda: WhiteNoise(None), TypeError, "sample_rate"),
        (lambda: FilteredNoise(FS, n_bands=1), ValueError, "n_bands"),
        (lambda: FilteredNoise(FS, hop=0), ValueError, "hop"),
        (lambda: FilteredNoise(FS, n_bands=3, band4=0.1), ValueError, "no parameter"),
        (lambda: FilteredNoise(FS, n_bands=3, band1=0.0), ValueError, "band1 must lie"),
        (lambda: FilteredNoise(FS, n_bands=3, hop=8)(torch.zeros(1, 1, 8), state={"tail": torch.zeros(1, 1, 4)}), ValueError, "missing"),
        (lambda: white_noise((1, 10), seed=0), ValueError, "shape"),
        (lambda: white_noise((1, 1, 10), seed=0, start=-1), ValueError, "start"),
        (lambda: minimum_phase_fir(torch.tensor([1.0, 0.0]), 4), ValueError, "> 0"),
        (lambda: minimum_phase_fir(torch.tensor([1.0]), 4), ValueError, "n_bands >= 2"),
        (lambda: filtered_noise(torch.ones(1, 1, 5, 3), (1, 1, 10), hop=4, taps=4, seed=0), ValueError, "T or 1"),
    ],
)
def test_bad_input_raises(call, error, message):
    with pytest.raises(error, match=message):
        call()
