"""Reverbs: partitioned convolution against numpy/scipy, decay times by Schroeder
integration, FDN stability, streaming, gradients, model files, bad input.

Tolerances:
* Partitioned convolution against ``numpy.convolve`` / ``scipy.signal.fftconvolve``:
  1e-10 in float64 and 1e-5 in float32 for outputs of order 1 (unit noise
  through IRs of unit energy; 10 for the long IR): FFT rounding is a few eps
  times the output's peak, measured 1e-14 (float64) and 2e-6 (float32) at worst.
* RT60: within 10 % of the parameter. Schroeder's backward integral is
  fitted from -5 to -35 dB and extrapolated to -60 dB; what remains is the
  randomness of a finite noise-like decay in a band (a few % for the
  bandwidths and lengths used, more in narrow low bands), and for the FDN the
  shelf's slope between the measured band and the crossover (< 2 %).
* Streaming equals one pass to 1e-5 in float32 (relative to outputs near 1; the
  two paths round differently: FFT vs partitioned FFT plus direct FIR).
"""

import math

import numpy as np
import pytest
import scipy.signal as ss
import torch
from torch.autograd import gradcheck
from torch.func import functional_call

from processor_checks import assert_gradients, assert_streams

from ddsp_kit.export import load_model, save_model
from ddsp_kit.functional.reverb import (
    PartitionedState,
    absorption_design,
    band_noise,
    decay_time,
    default_delays,
    feedback_delay_network,
    mixing_matrix,
    noise_reverb_ir,
    orthogonal_matrix,
    partitioned_convolution,
)
from ddsp_kit.processors.reverb import ConvolutionReverb, FeedbackDelayNetwork, NoiseReverb


def noise(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def impulse(samples, dtype=torch.float32):
    x = torch.zeros(1, 1, samples, dtype=dtype)
    x[..., 0] = 1
    return x


def schroeder_rt60(ir, fs, band=None):
    """RT60 (s) from the backward-integrated energy of ``ir``, optionally band-passed first
    (4th-order Butterworth; ``band = (low or None, high or None)`` Hz)."""
    ir = np.asarray(ir, dtype=np.float64).ravel()
    if band is not None:
        low, high = band
        if low is None:
            sos = ss.butter(4, high, "lowpass", fs=fs, output="sos")
        elif high is None:
            sos = ss.butter(4, low, "highpass", fs=fs, output="sos")
        else:
            sos = ss.butter(4, [low, high], "bandpass", fs=fs, output="sos")
        ir = ss.sosfilt(sos, ir)
    energy = np.cumsum(ir[::-1] ** 2)[::-1]
    level = 10 * np.log10(energy / energy[0])
    fit = (level <= -5) & (level >= -35)
    slope = np.polyfit(np.arange(len(ir))[fit] / fs, level[fit], 1)[0]
    return -60 / slope


# --- partitioned convolution -------------------------------------------------------------


def blocks(x, sizes):
    start = 0
    for size in sizes:
        yield x[..., start : start + size]
        start += size


@pytest.mark.parametrize("partition, length", [(1, 7), (8, 5), (8, 8), (8, 9), (16, 300)])
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_partitioned_convolution_equals_numpy_convolve(partition, length, dtype, tolerance):
    x, ir = noise(2, 3, 400, dtype=dtype), noise(3, length, seed=1, dtype=dtype) / math.sqrt(length)  # outputs ~1
    reference = np.stack([[np.convolve(x[b, c].double(), ir[c].double())[:400] for c in range(3)] for b in range(2)])
    # One pass (FFT), a stream of random blocks from 1 to ~6 partitions (direct tails),
    # and one long block after a short one (tails by FFT along the partition axis).
    one_pass, _ = partitioned_convolution(x, ir, partition)
    sizes = [1, 1, 2, 3, 1] + [int(n) for n in torch.randint(1, 6 * partition + 2, (400,), generator=torch.Generator().manual_seed(2))]
    sizes = [size for size, end in zip(sizes, np.cumsum(sizes)) if end <= 400]
    state, streamed = None, []
    for block in blocks(x, sizes + [400 - sum(sizes)]):
        y, state = partitioned_convolution(block, ir, partition, state)
        streamed.append(y)
    head, state = partitioned_convolution(x[..., :13], ir, partition)
    tail, _ = partitioned_convolution(x[..., 13:], ir, partition, state)
    for y in (one_pass, torch.cat(streamed, -1), torch.cat([head, tail], -1)):
        assert y.dtype == dtype
        np.testing.assert_allclose(y.double().numpy(), reference, rtol=0, atol=tolerance)


def test_partitioned_convolution_equals_scipy_fftconvolve_for_a_long_ir():
    x, ir = noise(1, 4000), noise(3000, seed=1) * torch.exp(-torch.arange(3000) / 600.0)
    reference = ss.fftconvolve(x[0].numpy(), ir.numpy())[:4000]
    state, out = None, []
    for block in blocks(x, [1, 64, 127, 256, 1000, 2552]):
        y, state = partitioned_convolution(block, ir, 64, state)
        out.append(y)
    np.testing.assert_allclose(torch.cat(out, -1)[0].numpy(), reference, rtol=0, atol=1e-10)


def test_partitioned_convolution_gradients_through_the_streaming_path():
    # x and ir reach the output through the FFT pass, the FDL state, the direct head and both
    # tail sums (the last block completes 16 partitions: tails by FFT along the partition axis).
    x, ir = noise(1, 40).requires_grad_(), noise(1, 12, seed=1).requires_grad_()

    def run(x, ir):
        y0, state = partitioned_convolution(x[..., :3], ir, 2)
        y1, state = partitioned_convolution(x[..., 3:7], ir, 2, state)
        y2, _ = partitioned_convolution(x[..., 7:], ir, 2, state)
        return torch.cat([y0, y1, y2], -1)

    assert gradcheck(run, (x, ir), eps=1e-6, atol=1e-7)


def test_partitioned_convolution_rejects_bad_input():
    x, ir = torch.randn(2, 50), torch.randn(2, 30)
    _, state = partitioned_convolution(x, ir, 8)
    with pytest.raises(ValueError, match="partition must be an int >= 1"):
        partitioned_convolution(x, ir, 0)
    with pytest.raises(ValueError, match="does not fit"):
        partitioned_convolution(x, ir, 16, state)  # another partition size
    with pytest.raises(ValueError, match="does not fit"):
        partitioned_convolution(x, torch.randn(2, 90), 8, state)  # another IR length
    with pytest.raises(TypeError, match="PartitionedState"):
        partitioned_convolution(x, ir, 8, state._asdict())
    with pytest.raises(ValueError, match="batch dims do not broadcast"):
        partitioned_convolution(x, torch.randn(3, 30), 8)
    with pytest.raises(ValueError, match="ir holds NaN"):
        partitioned_convolution(x, torch.full((30,), math.nan), 8)
    assert isinstance(state, PartitionedState)


# --- noise reverb --------------------------------------------------------------------------


def test_band_noise_is_deterministic_and_sums_to_the_noise():
    bands = band_noise(1000, [500.0, 2000.0], 8000, seed=3)
    assert torch.equal(bands, band_noise(1000, [500.0, 2000.0], 8000, seed=3))
    assert not torch.equal(bands, band_noise(1000, [500.0, 2000.0], 8000, seed=4))
    torch.testing.assert_close(bands.sum(0), band_noise(1000, [], 8000, seed=3)[0], rtol=0, atol=1e-15)
    # Unit energy per second: 1000 samples at 8 kHz hold about 1/8.
    assert abs(float(bands.sum(0).square().sum()) - 0.125) < 0.02
    with pytest.raises(ValueError, match="crossovers must increase"):
        band_noise(100, [2000.0, 500.0], 8000)
    with pytest.raises(ValueError, match="crossovers must increase"):
        band_noise(100, [4000.0], 8000)
    with pytest.raises(TypeError, match="seed must be an int"):
        band_noise(100, [], 8000, seed=1.5)


def test_noise_reverb_decays_with_each_band_rt60():
    fs, targets = 16000, {1: 2.0, 2: 1.0, 3: 0.4}
    reverb = NoiseReverb(fs, duration=3.0, crossovers=[500.0, 4000.0], mix=1.0, **{f"band{i}_rt60": t for i, t in targets.items()})
    ir = reverb(impulse(3 * fs)).audio.detach()
    # Measured inside each band, an octave or more from the crossover fades (354-707 Hz, 2.8-5.7 kHz).
    for i, band in ((1, (50, 300)), (2, (1000, 2000)), (3, (6000, 7500))):
        measured = schroeder_rt60(ir, fs, band)
        assert measured == pytest.approx(targets[i], rel=0.1), f"band {i}: {measured:.3f} s"


def test_noise_reverb_ir_is_the_closed_form():
    fs, bands = 8000, band_noise(4000, [1000.0], 8000)
    rt60, level = torch.tensor([[0.5, 0.2], [0.1, 1.0]]), torch.tensor([[0.0, -20.0], [6.0, -3.0]])
    t = np.arange(4000) / fs
    for row in range(2):
        expected = sum(
            10 ** (float(level[row, b]) / 20) * np.exp(-3 * math.log(10) * t / float(rt60[row, b])) * bands[b].numpy() for b in range(2)
        )
        np.testing.assert_allclose(noise_reverb_ir(bands, rt60, level, fs)[row].numpy(), expected, rtol=0, atol=1e-8)


def test_convolution_reverb_initial_ir_decays_with_decay():
    reverb = ConvolutionReverb(16000, duration=1.0, decay=0.3)
    assert reverb.ir.shape == (16000,)
    assert schroeder_rt60(reverb.ir.detach(), 16000) == pytest.approx(0.3, rel=0.1)
    assert ConvolutionReverb(16000, length=100).ir.shape == (100,)


def test_decay_time_of_an_exponential_is_its_rt60():
    # Closed form: for h[t] = exp(-3 ln(10) t / T) cut at 4T, the Schroeder curve is a line of slope -60/T dB/s
    # down to ~-200 dB; what is left is the sampling of the fit span (< 1e-4 relative at 8 kHz).
    fs = 8000
    t = torch.arange(4 * 4000, dtype=torch.float64) / fs
    for rt60 in (0.2, 0.5, 1.3):
        ir = torch.exp(-3 * math.log(10) * t / rt60)
        assert float(decay_time(ir, fs)) == pytest.approx(rt60, rel=1e-4)
        assert float(decay_time(ir, fs, end_db=-35.0)) == pytest.approx(rt60, rel=1e-4)


def test_decay_time_matches_a_numpy_schroeder_fit_per_row():
    # The same definition computed independently (numpy polyfit above): equal to rounding. Batched rows are
    # measured one by one, in the IR's dtype.
    fs = 16000
    bands = band_noise(16000, [], fs)
    rows = torch.stack([noise_reverb_ir(bands, torch.tensor([rt60]), torch.zeros(1), fs) for rt60 in (0.2, 0.3, 0.45)])
    measured = decay_time(rows.reshape(3, 1, -1).float(), fs, end_db=-35.0)
    assert measured.shape == (3, 1) and measured.dtype == torch.float32
    for row, value in zip(rows, measured.flatten()):
        assert float(value) == pytest.approx(schroeder_rt60(row, fs), rel=1e-5)


def test_decay_time_refuses_what_it_cannot_measure():
    with pytest.raises(ValueError, match="silent"):
        decay_time(torch.zeros(100), 8000)
    with pytest.raises(ValueError, match="NaN or Inf"):
        decay_time(torch.tensor([1.0, math.inf, 0.5]), 8000)
    with pytest.raises(ValueError, match="must fall from -5 to -25 dB"):
        decay_time(torch.ones(1000), 8000)  # a flat IR (one cut short) ends at -30 dB: its fit would measure the cut
    with pytest.raises(ValueError, match="must fall from -5 to -25 dB"):
        decay_time(torch.tensor([1.0, 0.0, 0.0]), 8000)  # from 0 dB to silence in one sample: nothing to fit
    with pytest.raises(ValueError, match="0 > start_db > end_db"):
        decay_time(torch.ones(10), 8000, start_db=-30.0, end_db=-5.0)
    with pytest.raises(ValueError, match="ir must be a float tensor"):
        decay_time(torch.ones(10, dtype=torch.int64), 8000)
    with pytest.raises(TypeError, match="sample_rate"):
        decay_time(torch.ones(10), "8k")


def test_convolution_reverb_noise_ir_per_channel_and_its_decay_time():
    reverb = ConvolutionReverb(16000, duration=1.0, decay=0.3, channels=2, seed=4)
    assert reverb.ir.shape == (2, 16000)
    assert torch.equal(reverb.ir[1], ConvolutionReverb(16000, duration=1.0, decay=0.3, seed=5).ir)
    assert not torch.equal(reverb.ir[0], reverb.ir[1])
    decays = reverb.decay_time()
    assert decays.shape == (2,) and torch.allclose(decays, torch.tensor(0.3), rtol=0.1)
    with pytest.raises(ValueError, match="channels must be an int >= 1"):
        ConvolutionReverb(16000, duration=0.1, channels=0)


def test_convolution_reverb_convolves_with_its_ir_per_channel():
    ir = noise(2, 50, seed=1)
    reverb = ConvolutionReverb(8000, ir, mix=0.25).double()
    x = noise(1, 1, 300)
    wet = [np.convolve(x[0, 0], ir[c])[:300] for c in range(2)]
    mix = reverb.values()["mix"]
    expected = (1 - mix) * x[0].numpy() + mix * np.stack(wet)
    np.testing.assert_allclose(reverb(x).audio[0].detach().numpy(), expected, rtol=0, atol=1e-12)
    assert reverb.latency == 0


# --- feedback delay network ------------------------------------------------------------------


@pytest.mark.parametrize("mixing, low, high", [("hadamard", 1.5, 0.5), ("householder", 0.6, 1.2)])
def test_fdn_decays_with_the_rt60_of_each_band(mixing, low, high):
    fs = 16000
    fdn = FeedbackDelayNetwork(fs, mixing=mixing, rt60_low=low, rt60_high=high, crossover=1000.0, mix=1.0)
    ir = fdn(impulse(int(2 * max(low, high) * fs))).audio.detach()
    # A decade from the crossover the shelf is within 2 % of its end gains (in dB).
    assert schroeder_rt60(ir, fs, (50, 150)) == pytest.approx(low, rel=0.1)
    assert schroeder_rt60(ir, fs, (6000, 7500)) == pytest.approx(high, rel=0.1)


def test_absorption_is_below_one_and_mixing_orthogonal_for_every_parameter_value():
    g = torch.Generator().manual_seed(0)
    fdn = FeedbackDelayNetwork(16000, mixing="learnable")
    specs = fdn.specs
    raw = torch.cat([torch.randn(200, 3, generator=g, dtype=torch.float64) * 5, torch.tensor([[-60.0] * 3, [60.0] * 3, [-60.0, 60.0, 0.0]])])
    low, high, crossover = (specs[n].to_physical(raw[:, i]) for i, n in enumerate(("rt60_low", "rt60_high", "crossover")))
    sos = absorption_design(fdn.delays, low, high, crossover, sample_rate=16000)
    w = np.linspace(0, np.pi, 512)
    z = np.exp(-1j * w)
    b0, b1, a1 = (sos[..., i].numpy()[..., None] for i in (0, 1, 4))
    gains = np.abs((b0 + b1 * z) / (1 + a1 * z))
    assert gains.max() < 1 and np.abs(a1).max() < 1
    for scale in (0.1, 10.0, 1000.0):
        q = orthogonal_matrix(scale * torch.randn(28, generator=g, dtype=torch.float64), 8)
        torch.testing.assert_close(q @ q.T, torch.eye(8, dtype=torch.float64), rtol=0, atol=1e-9)
    for kind, n in (("householder", 5), ("hadamard", 8)):
        m = mixing_matrix(kind, n, torch.float64)
        torch.testing.assert_close(m @ m.T, torch.eye(n, dtype=torch.float64), rtol=0, atol=1e-12)


def test_fdn_impulse_response_decays_for_random_and_extreme_parameters():
    fs, delays, rows = 8000, [61, 67, 71, 73, 79, 83], 8
    fdn = FeedbackDelayNetwork(fs, delays=delays, mixing="learnable").double()
    g = torch.Generator().manual_seed(1)
    x = impulse(8000, torch.float64).expand(rows, 1, 8000)
    for scale in (60.0, 4.0):  # 60: every value at an end of its range; 4: spread over the ranges
        controls = {name: scale * torch.randn(rows, 1, 1, generator=g, dtype=torch.float64) for name in fdn.specs}
        controls["mix"] = torch.full((1, 1, 1), 30.0, dtype=torch.float64)
        with torch.no_grad():
            for p in (fdn.mixing_generator, fdn.input_gains, fdn.output_gains):
                p.copy_(scale * torch.randn(p.shape, generator=g, dtype=torch.float64))
            y = fdn(x, controls).audio[:, 0]
        # Even the longest RT60 (20 s) loses 4.8 dB between these windows, 0.1 s and 0.9 s in.
        early, late = y[:, 400:1200].square().sum(-1), y[:, 7200:].square().sum(-1)
        assert torch.isfinite(y).all() and (late < early).all(), f"scale {scale}: energy {early.tolist()} -> {late.tolist()}"


def test_fdn_matches_a_per_sample_loop():
    delays = [3, 5, 7]
    sos = absorption_design(delays, 0.05, 0.02, 300.0, sample_rate=2000)
    matrix, b, c = mixing_matrix("householder", 3, torch.float64), noise(3, seed=1), noise(3, seed=2)
    x = noise(60)
    y, _ = feedback_delay_network(x, delays, matrix, b, c, sos)
    lines = [[0.0] * d for d in delays]  # oldest first
    memory = [[0.0, 0.0] for _ in delays]
    expected = []
    for t in range(60):
        s = [line[0] for line in lines]
        a = [sos[i, 0] * s[i] + sos[i, 1] * memory[i][0] - sos[i, 4] * memory[i][1] for i in range(3)]
        memory = [[s[i], float(a[i])] for i in range(3)]
        q = matrix @ torch.tensor(a, dtype=torch.float64) + b * x[t]
        lines = [line[1:] + [float(q[i])] for i, line in enumerate(lines)]
        expected.append(float(c @ torch.tensor(a, dtype=torch.float64)))
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=1e-12)


def test_default_delays_are_distinct_primes():
    delays = default_delays(8, 48000)
    assert len(set(delays)) == 8 and all(all(d % p for p in range(2, math.isqrt(d) + 1)) for d in delays)
    assert 0.029 < delays[0] / 48000 and delays[-1] / 48000 < 0.077


# --- the protocol: streaming, gradients, model files, bad input ----------------------------


def small_blocks():
    return [
        ConvolutionReverb(8000, noise(300, seed=3).float() * 0.1, partition=16),
        ConvolutionReverb(8000, length=40, partition=64),  # the whole IR in the head
        NoiseReverb(8000, duration=0.05, crossovers=[1000.0], partition=32),
        FeedbackDelayNetwork(8000, delays=[7, 11, 13, 17], mixing="learnable"),
        FeedbackDelayNetwork(8000, delays=[5, 9], mixing="hadamard"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_streaming_in_random_blocks_equals_one_pass(index):
    block = small_blocks()[index]
    assert_streams(block, noise(2, 2, 700, dtype=torch.float32), atol=1e-5)


def gradient_blocks():
    """float64 blocks small enough for gradcheck (30 samples: FDNs run three chunks)."""
    return [
        ConvolutionReverb(8000, noise(20, seed=3), partition=8),
        NoiseReverb(500, duration=0.06, crossovers=[100.0], band1_rt60=0.05, band2_rt60=0.1),
        FeedbackDelayNetwork(8000, delays=[11, 13, 17, 19], mixing="learnable"),
        FeedbackDelayNetwork(8000, delays=[11, 13], mixing="hadamard"),
    ]


@pytest.mark.parametrize("index", range(4))
def test_gradients_reach_every_parameter(index):
    block, x = gradient_blocks()[index].double(), noise(1, 1, 30)
    assert_gradients(block, x)
    # The plain learnable tensors (IR, gains, mixing generator), by gradcheck through the module.
    names = [name for name, _ in block.named_parameters() if not name.startswith("raw.")]
    values = [p.detach().clone().requires_grad_() for name, p in block.named_parameters() if name in names]

    def run(*tensors):
        return functional_call(block, dict(zip(names, tensors)), (x,)).audio

    if names:
        assert gradcheck(run, tuple(values), eps=1e-6, atol=1e-6)
        grads = torch.autograd.grad(run(*values).square().sum(), values)
        assert all(bool(g.abs().sum() > 0) for g in grads), f"no gradient reaches some of {names}"


def test_noise_reverb_per_batch_controls():
    reverb = NoiseReverb(8000, duration=0.1, crossovers=[], mix=1.0)
    rt60 = reverb.to_raw("band1_rt60", torch.tensor([0.05, 0.5])).reshape(2, 1, 1)
    y = reverb(impulse(800).expand(2, 1, 800), {"band1_rt60": rt60}).audio.detach()
    assert y[0, 0, 400:].abs().max() < 0.01 * y[1, 0, 400:].abs().max()
    assert_streams(reverb, noise(2, 1, 300, dtype=torch.float32), {"band1_rt60": rt60})


def test_model_files_rebuild_every_reverb(tmp_path):
    x = noise(1, 2, 300, dtype=torch.float32)
    for i, block in enumerate(small_blocks()):
        with torch.no_grad():
            for p in block.parameters():
                p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(i)))
        loaded = load_model(save_model(block, tmp_path / f"{i}.safetensors"))
        torch.testing.assert_close(loaded(x).audio, block(x).audio, rtol=0, atol=1e-6)


def test_reverb_parameters_are_static_over_a_block():
    fdn = FeedbackDelayNetwork(8000, delays=[7, 11])
    moving = fdn.to_raw("rt60_low", torch.linspace(0.5, 1.0, 64)).reshape(1, 1, 64)
    with pytest.raises(ValueError, match="held over each block"):
        fdn(torch.randn(1, 1, 64), {"rt60_low": moving})
    mix = fdn.to_raw("mix", torch.linspace(0.0, 1.0, 64)).reshape(1, 1, 64)
    assert_streams(fdn, torch.randn(1, 1, 64), {"mix": mix})  # mix may move per sample
    # A held value that changes between streamed blocks is taken as it is, not ramped.
    first = fdn(torch.randn(1, 1, 32), {"rt60_low": fdn.to_raw("rt60_low", 0.5).reshape(1, 1, 1)})
    fdn(torch.randn(1, 1, 32), {"rt60_low": fdn.to_raw("rt60_low", 1.0).reshape(1, 1, 1)}, first.state)
    reverb = NoiseReverb(8000, duration=0.05, crossovers=[])
    with pytest.raises(ValueError, match="held over each block"):
        reverb(torch.randn(1, 1, 64), {"band1_level_db": torch.zeros(1, 1, 8)})


def test_bad_input_raises_clear_errors():
    with pytest.raises(TypeError, match="sample_rate must be a number"):
        ConvolutionReverb("48k")
    with pytest.raises(TypeError, match="sample_rate must be a number"):
        FeedbackDelayNetwork(None)
    with pytest.raises(ValueError, match="ir must be a float tensor"):
        ConvolutionReverb(8000, torch.zeros(0))
    with pytest.raises(ValueError, match="ir holds NaN"):
        ConvolutionReverb(8000, torch.tensor([1.0, math.nan]))
    with pytest.raises(ValueError, match="partition must be an int >= 1"):
        ConvolutionReverb(8000, length=10, partition=0)
    with pytest.raises(ValueError, match="duration must be a positive"):
        ConvolutionReverb(8000, duration=-1.0)
    with pytest.raises(ValueError, match="decay must be a positive"):
        ConvolutionReverb(8000, decay=0.0)
    with pytest.raises(ValueError, match="channels does not fit"):
        ConvolutionReverb(8000, torch.randn(3, 10))(torch.randn(1, 2, 20))
    with pytest.raises(ValueError, match="crossovers must increase"):
        NoiseReverb(8000, crossovers=[1000.0, 500.0])
    with pytest.raises(ValueError, match=r"band1_rt60 must lie in \[0.02, 20\] s"):
        NoiseReverb(8000, band1_rt60=30.0)
    with pytest.raises(ValueError, match="no parameter"):
        NoiseReverb(8000, crossovers=[], band2_rt60=1.0)
    with pytest.raises(ValueError, match="delays must be ints >= 1"):
        FeedbackDelayNetwork(8000, delays=[0, 5])
    with pytest.raises(ValueError, match="mixing must be one of"):
        FeedbackDelayNetwork(8000, delays=[3, 5], mixing="random")
    with pytest.raises(ValueError, match="power-of-2"):
        FeedbackDelayNetwork(8000, delays=[3, 5, 7], mixing="hadamard")
    with pytest.raises(ValueError, match=r"rt60_high must lie in \[0.02, 20\] s"):
        FeedbackDelayNetwork(8000, rt60_high=0.0)
    with pytest.raises(ValueError, match="batch, channels, samples"):
        FeedbackDelayNetwork(8000, delays=[3, 5])(torch.randn(20))
    fdn = FeedbackDelayNetwork(8000, delays=[3, 5])
    state = fdn(torch.randn(1, 1, 20)).state
    with pytest.raises(ValueError, match="does not fit"):
        fdn(torch.randn(2, 1, 20), state=state)
    with pytest.raises(ValueError, match="state must hold"):
        fdn(torch.randn(1, 1, 20), state={"lines": state["lines"]})
    with pytest.raises(ValueError, match=r"2 delays need matrix \(2, 2\)"):
        feedback_delay_network(torch.zeros(5), [3, 5], torch.eye(3), torch.ones(2), torch.ones(2), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="rt60_low must lie in"):
        absorption_design([10], -1.0, 1.0, 100.0, sample_rate=8000)
    with pytest.raises(ValueError, match="generator must be"):
        orthogonal_matrix(torch.zeros(5), 4)
