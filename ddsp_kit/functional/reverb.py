r"""Reverberation: long convolutions and feedback delay networks, differentiable and streaming.

**Partitioned convolution.** :func:`partitioned_convolution` convolves with an
impulse response ``h`` of length ``L``, cut into ``K = ceil(L / P)``
partitions :math:`h_k = h[kP : (k+1)P]` of ``P`` taps. A call without a state
(training, the first block) is one FFT convolution of the whole block. With a
state it runs a *uniformly partitioned overlap-save* convolution with zero
latency: the head :math:`h_0` is a direct FIR on every input sample, and the
tail :math:`h_1 \dots h_{K-1}` runs in the frequency domain, one partition of
output at a time. When input partition :math:`j-1` completes, the spectrum
:math:`S_{j-1} = \mathrm{FFT}_{2P}[x_{j-2}, x_{j-1}]` joins the
frequency-domain delay line (FDL) and the tail of output partition ``j`` is

.. math::
    y_{\mathrm{tail},j} = \mathrm{IFFT}_{2P}\Big(\sum_{k=1}^{K-1} S_{j-k} H_k\Big)[P:2P],

with :math:`H_k` the ``2P``-point spectrum of :math:`h_k`: it only reads
complete past partitions, so it is ready before the first sample of partition
``j`` arrives. Blocks of any size cross partition boundaries in one batched
step (the sum over ``k`` is a convolution along the partition axis). The
state (:class:`PartitionedState`) is the FDL, the inputs since the start of
the previous partition and the tail of the current one, so a stream of blocks
equals one pass to rounding. A call costs ``O(K P)`` per completed partition
plus the ``P``-tap head, and one ``K``-partition FFT of ``h`` (recomputed each
call, since ``h`` may be learned or controlled).

**Noise reverb.** :func:`band_noise` splits fixed-seed white noise into bands
with amplitude-complementary masks (the bands sum to the noise);
:func:`noise_reverb_ir` gives each band an exponential decay with its own
RT60 and level, the DDSP-style reverb whose IR is a differentiable function of
a few physical parameters.

**Decay time.** :func:`decay_time` reads the RT60 off any impulse response
(ISO 3382-1): Schroeder's backward integral of the squared response, in dB,
fitted by a line between two levels and extrapolated to 60 dB, so a learned
IR or a rendered device has a decay time to compare with a parametric one.

**Feedback delay network.** :func:`feedback_delay_network` runs ``N`` delay
lines of fixed lengths :math:`d_i`, an orthogonal mixing matrix ``A`` and a
first-order absorption filter :math:`G_i(z)` at the output of each line:

.. math::
    s_i[t] = q_i[t - d_i],\quad a = G(z)\, s,\quad q = A a + b\, x,\quad y = c^\top a.

:func:`absorption_design` sets each :math:`G_i` by Jot's method: a line of
:math:`d_i` samples loses :math:`60\,d_i / (f_s T_{60})` dB per pass, so every
recirculating path decays with the target :math:`T_{60}`, one value below and
one above a crossover frequency (a first-order shelf). Every :math:`|G_i|` is
below 1 at all frequencies and ``A`` is orthogonal, so the loop is stable for
every parameter value. The network runs in chunks no longer than the shortest
line: within a chunk every line reads samples written before the chunk, so a
chunk is a few batched tensor operations and a first-order scan, not a
per-sample loop.
"""

import math
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..kernels import linear_recurrence
from .design import Number, _broadcast, _parameter, _result_dtype, check_sample_rate
from .filtering import _check_batch, _coefficients, _signal
from .fir import _fft_convolve, fir_filter

Tensor = torch.Tensor

# Half-width of each crossover of band_noise, octaves: a squared-cosine fade
# from 2**-0.5 to 2**0.5 times the crossover frequency.
CROSSOVER_OCTAVES = 0.5
# exp(-DECAY t / rt60) falls by 60 dB (a factor 1000) at t = rt60.
_DECAY = 3 * math.log(10)
DECAY_MARGIN_DB = 10.0  # decay_time: how far past the fitted span the decay curve must fall within the IR
_MIXINGS = ("householder", "hadamard")
# Up to this many tail partitions per call are summed directly, more by FFT along the partition axis.
_DIRECT_TAILS = 8


class PartitionedState(NamedTuple):
    """Streaming state of :func:`partitioned_convolution` (batch dims ``...``).

    ``inputs``: ``(..., P + r)``, the inputs since the start of the previous
    partition, ``r`` samples into the current one. ``spectra``: ``(..., max(K - 2, 0), P + 1)``
    complex, the frequency-domain delay line, oldest first (the newest ``K - 2``
    input spectra a future tail still needs). ``tail``: ``(..., P)``, the tail
    output of the current partition.
    """

    inputs: Tensor
    spectra: Tensor
    tail: Tensor


class NetworkState(NamedTuple):
    """Streaming state of :func:`feedback_delay_network` (batch dims ``...``).

    ``lines``: ``(..., N, max(delays))``, the latest inputs of every line,
    oldest first (line ``i`` reads its last ``d_i``). ``filters``:
    ``(..., N, 2)``, the absorption filters' last input and output.
    """

    lines: Tensor
    filters: Tensor


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.complex64)


def _partitions(ir: Tensor, partition: int) -> Tuple[Tensor, Tensor]:
    """The head ``h_0`` ``(..., P)`` and the ``2P``-point spectra of ``h_1 .. h_{K-1}``, ``(..., K - 1, P + 1)``."""
    count = -(-ir.shape[-1] // partition)
    parts = F.pad(ir, (0, count * partition - ir.shape[-1])).unflatten(-1, (count, partition))
    if count == 1:  # no tail (an empty FFT is an error)
        return parts[..., 0, :], ir.new_zeros(*ir.shape[:-1], 0, partition + 1, dtype=_complex(ir.dtype))
    return parts[..., 0, :], torch.fft.rfft(parts[..., 1:, :], n=2 * partition)


def _tails(spectra: Tensor, tail_spectra: Tensor, partition: int) -> Tensor:
    r"""Tail outputs ``(..., n, P)`` of the partitions after the FDL ``spectra`` ``(..., n + D - 1, P + 1)``.

    Output ``i`` is :math:`\sum_{k=1}^{D} S_{i + D - k} H_k` (FDL index from 0)
    over the ``D`` tail spectra: a convolution along the partition axis, summed
    directly for a few outputs (streaming) and by FFTs along that axis for
    many (``O(log)`` instead of ``O(D)`` per output).
    """
    depth = tail_spectra.shape[-2]
    length = spectra.shape[-2]
    if length - depth < _DIRECT_TAILS:
        products = (spectra.unfold(-2, depth, 1) * tail_spectra.flip(-2).transpose(-1, -2).unsqueeze(-3)).sum(-1)
    else:
        size = 1 << (length - 1).bit_length()
        products = torch.fft.ifft(torch.fft.fft(spectra, size, dim=-2) * torch.fft.fft(tail_spectra, size, dim=-2), dim=-2)
        products = products[..., depth - 1 : length, :]
    return torch.fft.irfft(products, n=2 * partition)[..., partition:]


def _check_state(state, batch, partition: int, depth: int, dtype: torch.dtype) -> PartitionedState:
    """``state`` checked to fit the batch, the partition size and the IR length; cast to ``dtype``."""
    if not isinstance(state, PartitionedState):
        raise TypeError(f"state must be the PartitionedState a previous call returned, got {type(state).__name__}")
    inputs, spectra, tail = state
    fits = (
        inputs.shape[:-1] == batch and partition <= inputs.shape[-1] < 2 * partition
        and spectra.shape == (*batch, max(depth - 1, 0), partition + 1) and spectra.is_complex()
        and tail.shape == (*batch, partition)
    )
    if not fits:
        raise ValueError(
            f"state (inputs {tuple(inputs.shape)}, spectra {tuple(spectra.shape)}, tail {tuple(tail.shape)}) does not fit "
            f"batch {tuple(batch)}, partition {partition} and {depth + 1} IR partitions: pass the state of the same convolution"
        )
    return PartitionedState(inputs.to(dtype), spectra.to(_complex(dtype)), tail.to(dtype))


def partitioned_convolution(
    x: Tensor, ir: Tensor, partition: int = 256, state: Optional[PartitionedState] = None
) -> Tuple[Tensor, PartitionedState]:
    r"""Causal convolution with a long impulse response, one FFT pass or streaming with zero latency.

    Without ``state`` the output is one FFT convolution of ``x`` (training);
    with one it is the uniformly partitioned overlap-save convolution of the
    module docstring. Both return the state that continues the stream, and a
    stream of blocks of any sizes equals one pass to rounding.

    Args:
        x: real signal, ``(..., T)``.
        ir: impulse response ``h``, ``(..., L)``; leading dims broadcast against ``x``.
        partition: partition size ``P``, samples (an int >= 1): smaller costs
            less per short block, larger less per sample of long ones.
        state: the :class:`PartitionedState` of the previous block, None to start from silence.

    Returns:
        ``(y, state)``: ``y`` ``(*batch, T)`` and the state for the next block.

    Shape:
        ``batch`` is the broadcast of ``x.shape[:-1]`` and ``ir.shape[:-1]``.

    Example:
        >>> ir = torch.tensor([1.0, 0.5, 0.25, 0.125, 0.0625])
        >>> y, state = partitioned_convolution(torch.tensor([1.0, 0.0]), ir, partition=2)
        >>> partitioned_convolution(torch.zeros(3), ir, partition=2, state=state)[0]
        tensor([0.2500, 0.1250, 0.0625])
    """
    x = _signal(x)
    ir = _coefficients("ir", ir)
    partition = _positive_int("partition", partition)
    _check_batch(x=x.shape[:-1], ir=ir.shape[:-1])
    batch = torch.broadcast_shapes(x.shape[:-1], ir.shape[:-1])
    dtype = torch.promote_types(x.dtype, ir.dtype)
    x, ir = x.to(dtype).expand(*batch, x.shape[-1]), ir.to(dtype)
    head, tail_spectra = _partitions(ir, partition)
    depth, steps = tail_spectra.shape[-2], x.shape[-1]
    fresh = state is None
    if fresh:
        inputs, tail = x.new_zeros(*batch, partition), x.new_zeros(*batch, partition)
        spectra = tail_spectra.new_zeros(*batch, max(depth - 1, 0), partition + 1)
    else:
        inputs, spectra, tail = _check_state(state, batch, partition, depth, dtype)
    phase = inputs.shape[-1] - partition
    signal = torch.cat([inputs, x], -1)  # from the start of the previous partition
    complete = (phase + steps) // partition  # input partitions this block completes
    # Spectra feed the tail: one pass needs only the newest ones, for the next block.
    needed = min(complete, depth) if fresh else complete * (depth > 0)
    if needed:
        windows = signal[..., (complete - needed) * partition : (complete + 1) * partition].unfold(-1, 2 * partition, partition)
        spectra = torch.cat([spectra, torch.fft.rfft(windows)], -2)
    if fresh:
        y = _fft_convolve(x, ir, steps)
        if complete and depth:  # only the tail of the partition the block ends in
            tail = _tails(spectra[..., spectra.shape[-2] - depth :, :], tail_spectra, partition)[..., -1, :]
    else:
        y, _ = fir_filter(x, head, signal[..., phase + 1 : partition + phase])
        ahead = tail[..., phase:]
        if complete and depth:
            future = _tails(spectra, tail_spectra, partition)
            ahead = torch.cat([ahead, future.flatten(-2)], -1)
            tail = future[..., -1, :]
        y = y + F.pad(ahead, (0, max(steps - ahead.shape[-1], 0)))[..., :steps]  # zeros without tail partitions
    kept = spectra[..., spectra.shape[-2] - max(depth - 1, 0) :, :]
    return y, PartitionedState(signal[..., complete * partition :], kept, tail)


def band_noise(length: int, crossovers: Sequence[float], sample_rate: float, seed: int = 0) -> Tensor:
    r"""Fixed-seed white noise split into frequency bands that sum back to it.

    The noise has variance :math:`1 / f_s` per sample (unit energy per second
    at any sample rate). Band ``b`` is the noise through the zero-phase mask
    :math:`\prod_{c < b} (1 - L_c) \cdot L_b` (the last band without
    :math:`L_b`), where :math:`L_c` is a squared-cosine low-pass fade over
    ``CROSSOVER_OCTAVES`` either side of crossover ``c`` on a log-frequency
    axis; the masks sum to 1 at every frequency. Deterministic for a seed
    (torch's CPU generator, float64).

    Args:
        length: samples, an int >= 1.
        crossovers: band edges, Hz, increasing, in (0, sample_rate / 2); ``[]`` for one band.
        sample_rate: Hz.
        seed: the noise's seed, an int.

    Returns:
        ``(len(crossovers) + 1, length)`` float64.

    Example:
        >>> bands = band_noise(4800, [1000.0], 48000)
        >>> bands.shape, torch.allclose(bands.sum(0), band_noise(4800, [], 48000)[0])
        (torch.Size([2, 4800]), True)
    """
    length = _positive_int("length", length)
    sample_rate = check_sample_rate(sample_rate)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    edges = [float(c) for c in crossovers]
    if any(not 0 < c < sample_rate / 2 for c in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"crossovers must increase strictly within (0, {sample_rate / 2:g}) Hz, got {list(crossovers)}")
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(length, generator=generator, dtype=torch.float64) / math.sqrt(sample_rate)
    octaves = torch.log2(torch.fft.rfftfreq(length, 1 / sample_rate, dtype=torch.float64))  # -inf at DC
    remaining, masks = torch.ones_like(octaves), []
    for edge in edges:
        position = ((octaves - math.log2(edge)) / CROSSOVER_OCTAVES).clamp(-1, 1)
        low = torch.cos(math.pi / 4 * (1 + position)) ** 2
        masks.append(remaining * low)
        remaining = remaining * (1 - low)
    masks.append(remaining)
    return torch.fft.irfft(torch.fft.rfft(noise) * torch.stack(masks), n=length)


def noise_reverb_ir(bands: Tensor, rt60: Tensor, level_db: Tensor, sample_rate: float) -> Tensor:
    r"""Impulse response of exponentially decaying band noise.

    .. math::
        h[t] = \sum_b 10^{l_b / 20}\, e^{-3 \ln(10)\, t / (f_s T_b)}\, n_b[t],

    so band ``b`` decays by 60 dB in :math:`T_b` seconds; differentiable in
    the RT60s and levels.

    Args:
        bands: band noise ``(n_bands, L)`` (:func:`band_noise`).
        rt60: decay times, s, ``(..., n_bands)``, > 0.
        level_db: band levels, dB, ``(..., n_bands)``.
        sample_rate: Hz.

    Returns:
        ``(..., L)`` in the dtype of ``rt60`` and ``level_db``.

    Example:
        >>> ir = noise_reverb_ir(band_noise(48000, [], 48000), torch.tensor([0.5]), torch.tensor([0.0]), 48000)
        >>> float(ir[24000:].abs().max() / ir[:2400].abs().max()) < 1e-3  # down > 60 dB after one RT60
        True
    """
    sample_rate = check_sample_rate(sample_rate)
    dtype = _result_dtype(rt60, level_db)
    rt60 = _parameter("rt60", rt60, 0.0, math.inf, "s")
    level_db = _parameter("level_db", level_db, -math.inf, math.inf, "dB")
    if not isinstance(bands, Tensor) or bands.dim() != 2:
        raise ValueError(f"bands must be a (n_bands, L) tensor (band_noise), got {getattr(bands, 'shape', type(bands).__name__)}")
    count = bands.shape[0]
    if rt60.shape[-1:] != (count,) or level_db.shape[-1:] != (count,):
        raise ValueError(f"rt60 {tuple(rt60.shape)} and level_db {tuple(level_db.shape)} must end with the {count} bands")
    time = torch.arange(bands.shape[-1], dtype=dtype, device=bands.device) / sample_rate
    log_gain = (math.log(10) / 20) * level_db.to(dtype).unsqueeze(-1) - _DECAY * time / rt60.to(dtype).unsqueeze(-1)
    return (torch.exp(log_gain) * bands.to(dtype)).sum(-2)


def decay_time(ir: Tensor, sample_rate: float, start_db: float = -5.0, end_db: float = -25.0) -> Tensor:
    r"""RT60 of impulse responses by Schroeder backward integration (ISO 3382-1).

    The energy decay curve :math:`E(t) = \sum_{\tau \ge t} h[\tau]^2`, in dB
    relative to :math:`E(0)`, is fitted by least squares with a line
    :math:`a + s\,t` over the samples where it lies within
    ``[end_db, start_db]``; the RT60 is :math:`-60 / s`. The default span
    (-5 to -25 dB) is ISO's T20, the least sensitive to an IR cut short or a
    noise floor; ``end_db=-35`` gives T30. The curve must fall
    ``DECAY_MARGIN_DB`` past ``end_db`` within the IR: the last samples of an
    IR cut short drop the curve steeply, and a fit reaching them would
    measure the cut, not the decay.

    Args:
        ir: impulse responses ``(..., L)``, float, finite, not silent.
        sample_rate: Hz.
        start_db, end_db: the fitted span of the decay curve, dB, ``0 > start_db > end_db``.

    Returns:
        ``(...)`` decay times, s, in the dtype of ``ir``.

    Raises:
        ValueError: an IR that is silent, holds NaN/Inf, or whose decay curve
            does not fall to ``end_db - DECAY_MARGIN_DB`` or spends fewer than
            two samples in the fitted span.

    Example:
        >>> ir = noise_reverb_ir(band_noise(96000, [], 48000), torch.tensor([0.8]), torch.tensor([0.0]), 48000)
        >>> round(float(decay_time(ir, 48000)), 2)
        0.8
    """
    sample_rate = check_sample_rate(sample_rate)
    if not 0 > start_db > end_db:
        raise ValueError(f"need 0 > start_db > end_db, got start_db={start_db!r}, end_db={end_db!r}")
    if not isinstance(ir, Tensor) or not ir.is_floating_point() or ir.dim() == 0 or ir.shape[-1] < 2:
        raise ValueError(f"ir must be a float tensor (..., L) with L >= 2, got {getattr(ir, 'shape', type(ir).__name__)}")
    if not bool(torch.isfinite(ir).all()):
        raise ValueError("ir holds NaN or Inf values")
    energy = ir.double().square().flip(-1).cumsum(-1).flip(-1)
    if bool((energy[..., 0] == 0).any()):
        raise ValueError("ir is silent: it has no decay to measure")
    level = 10 * torch.log10(energy / energy[..., :1])
    inside = (level <= start_db) & (level >= end_db)
    counts = inside.sum(-1)
    if bool(((level[..., -1] > end_db - DECAY_MARGIN_DB) | (counts < 2)).any()):
        raise ValueError(
            f"the decay curve must fall from {start_db:g} to {end_db:g} dB over two samples or more, and on to "
            f"{end_db - DECAY_MARGIN_DB:g} dB, within the IR (it ends at {float(level[..., -1].max()):.1f} dB): "
            "a longer IR, or a higher end_db"
        )
    weight = inside.double()
    time = torch.arange(ir.shape[-1], dtype=torch.float64, device=ir.device) / sample_rate
    level = torch.where(inside, level, torch.zeros_like(level))
    mean_time = (weight * time).sum(-1, keepdim=True) / counts.unsqueeze(-1)
    mean_level = (weight * level).sum(-1, keepdim=True) / counts.unsqueeze(-1)
    centred = weight * (time - mean_time)
    slope = (centred * (level - mean_level)).sum(-1) / (centred * (time - mean_time)).sum(-1)
    return (-60.0 / slope).to(ir.dtype)


def default_delays(lines: int, sample_rate: float) -> list:
    """Distinct primes (so mutually prime) near ``lines`` lengths log-spaced from 30 to 75 ms.

    Example:
        >>> default_delays(4, 16000)
        [487, 653, 887, 1201]
    """
    lines = _positive_int("lines", lines)
    sample_rate = check_sample_rate(sample_rate)
    delays, candidate = [], 1
    for i in range(lines):
        candidate = max(candidate + 1, round(sample_rate * 0.03 * 2.5 ** (i / max(lines - 1, 1))))
        while any(candidate % p == 0 for p in range(2, math.isqrt(candidate) + 1)):
            candidate += 1
        delays.append(candidate)
    return delays


def mixing_matrix(kind: str, lines: int, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""A fixed orthogonal mixing matrix: ``"householder"`` :math:`I - \frac{2}{N} \mathbf{1}\mathbf{1}^\top`
    or ``"hadamard"`` (Sylvester's, scaled by :math:`1/\sqrt{N}`; ``N`` a power of 2).

    Example:
        >>> mixing_matrix("hadamard", 2)
        tensor([[ 0.7071,  0.7071],
                [ 0.7071, -0.7071]])
    """
    lines = _positive_int("lines", lines)
    if kind == "householder":
        return torch.eye(lines, dtype=dtype) - 2 / lines
    if kind == "hadamard":
        if lines & (lines - 1):
            raise ValueError(f"a Hadamard matrix needs a power-of-2 number of lines, got {lines}")
        matrix = torch.ones(1, 1, dtype=dtype)
        while matrix.shape[0] < lines:
            matrix = torch.cat([torch.cat([matrix, matrix], 1), torch.cat([matrix, -matrix], 1)], 0)
        return matrix / math.sqrt(lines)
    raise ValueError(f"kind must be one of {_MIXINGS}, got {kind!r}")


def orthogonal_matrix(generator: Tensor, lines: int) -> Tensor:
    r"""The orthogonal matrix :math:`e^{W - W^\top}`, ``W`` strictly upper triangular with entries ``generator``.

    Every real ``generator`` gives a rotation (the exponential of a
    skew-symmetric matrix), so a learned mixing matrix stays orthogonal.

    Args:
        generator: ``(N (N - 1) / 2,)``, the upper triangle row by row.
        lines: ``N``.

    Example:
        >>> q = orthogonal_matrix(torch.randn(6), 4)
        >>> torch.allclose(q @ q.T, torch.eye(4), atol=1e-5)
        True
    """
    lines = _positive_int("lines", lines)
    if not isinstance(generator, Tensor) or generator.shape != (lines * (lines - 1) // 2,):
        shape = tuple(generator.shape) if isinstance(generator, Tensor) else type(generator).__name__
        raise ValueError(f"generator must be ({lines * (lines - 1) // 2},) for {lines} lines, got {shape}")
    rows, cols = torch.triu_indices(lines, lines, 1)
    upper = generator.new_zeros(lines, lines).index_put((rows, cols), generator)
    return torch.linalg.matrix_exp(upper - upper.T)


def absorption_design(
    delays: Sequence[int], rt60_low: Number, rt60_high: Number, crossover: Number, *, sample_rate: float
) -> Tensor:
    r"""Jot's per-line absorption filters: first-order shelves that set the RT60 below and above ``crossover``.

    Line ``i`` of :math:`d_i` samples gets the gains
    :math:`g = 10^{-3 d_i / (f_s T_{60})}` at DC (from ``rt60_low``) and at
    Nyquist (from ``rt60_high``), joined by the bilinear transform (pre-warped
    at ``crossover``) of
    :math:`g_{\mathrm{low}} (\sqrt{\rho}\, s + 1) / (s / \sqrt{\rho} + 1)`,
    :math:`\rho = g_{\mathrm{high}} / g_{\mathrm{low}}`, whose gain at the
    crossover is the geometric mean. The magnitude is monotonic in frequency,
    so it stays within both gains, below 1; the pole lies in (-1, 1).

    Args:
        delays: line lengths, samples.
        rt60_low: decay time below the crossover, s, > 0.
        rt60_high: decay time above it, s, > 0.
        crossover: Hz, in (0, sample_rate / 2).
        sample_rate: Hz.

    Returns:
        ``[b0, b1, 0, 1, a1, 0]`` per line, ``(*broadcast, N, 6)``.

    Example:
        >>> sos = absorption_design([4800], 1.0, 0.5, 1000.0, sample_rate=48000)
        >>> b0, b1, _, _, a1, _ = sos[0].tolist()
        >>> round((b0 + b1) / (1 + a1), 6), round((b0 - b1) / (1 - a1), 6)  # DC: -6 dB, Nyquist: -12 dB
        (0.501187, 0.251189)
    """
    sample_rate = check_sample_rate(sample_rate)
    for delay in delays:
        _positive_int("every delay", delay)
    dtype = _result_dtype(rt60_low, rt60_high, crossover)
    low, high, crossover = _broadcast(
        rt60_low=_parameter("rt60_low", rt60_low, 0.0, math.inf, "s"),
        rt60_high=_parameter("rt60_high", rt60_high, 0.0, math.inf, "s"),
        crossover=_parameter("crossover", crossover, 0.0, sample_rate / 2, "Hz"),
    )
    lengths = torch.tensor(list(delays), dtype=torch.float64, device=low.device)
    low, high, crossover = low.unsqueeze(-1), high.unsqueeze(-1), crossover.unsqueeze(-1)
    gain = torch.exp(-_DECAY * lengths / (sample_rate * low))
    root = torch.exp(-_DECAY / 2 * lengths / sample_rate * (1 / high - 1 / low))  # sqrt(rho)
    k = torch.tan(math.pi * crossover / sample_rate)
    one, zero = torch.ones_like(gain * root * k), torch.zeros_like(gain * root * k)
    a0 = k + 1 / root
    sos = torch.stack([gain * (k + root) / a0, gain * (k - root) / a0, zero, one, (k - 1 / root) / a0, zero], -1)
    return sos.to(dtype)


def feedback_delay_network(
    x: Tensor,
    delays: Sequence[int],
    matrix: Tensor,
    input_gains: Tensor,
    output_gains: Tensor,
    absorption: Tensor,
    state: Optional[NetworkState] = None,
) -> Tuple[Tensor, NetworkState]:
    r"""Feedback delay network (the module docstring's equations), in chunks of the shortest delay.

    Stable whenever ``matrix`` is orthogonal and every absorption filter's
    gain is below 1 (:func:`absorption_design`, :func:`mixing_matrix`,
    :func:`orthogonal_matrix`). Differentiable in everything but ``delays``.

    Args:
        x: real signal, ``(..., T)``.
        delays: ``N`` line lengths, samples (ints >= 1; mutually prime for a dense echo).
        matrix: ``(N, N)`` mixing matrix ``A``.
        input_gains: ``b``, ``(..., N)``.
        output_gains: ``c``, ``(..., N)``.
        absorption: ``(..., N, 6)`` first-order sections ``[b0, b1, 0, 1, a1, 0]``.
        state: the :class:`NetworkState` of the previous block, None to start from silence.

    Returns:
        ``(y, state)``: ``y`` ``(*batch, T)``.

    Shape:
        ``batch`` is the broadcast of the leading dims of ``x``, the gains and ``absorption``.

    Example:
        >>> delays = [29, 37, 41, 43]
        >>> sos = absorption_design(delays, 0.1, 0.1, 1000.0, sample_rate=8000)
        >>> y, _ = feedback_delay_network(torch.eye(1, 1200)[0], delays, mixing_matrix("householder", 4),
        ...                               torch.ones(4), torch.ones(4), sos)
        >>> int(y.nonzero()[0])  # the first echo, after the shortest line
        29
        >>> round(10 * math.log10(y[200:400].square().sum() / y[1000:1200].square().sum()))  # dB lost in 0.1 s
        60
    """
    x = _signal(x)
    delays = [_positive_int("every delay", d) for d in delays]
    lines = len(delays)
    named = {
        "matrix": _coefficients("matrix", matrix, min_dims=2),
        "input_gains": _coefficients("input_gains", input_gains),
        "output_gains": _coefficients("output_gains", output_gains),
        "absorption": _coefficients("absorption", absorption, min_dims=2),
    }
    matrix, input_gains, output_gains, absorption = named.values()
    ends = (matrix.shape, input_gains.shape[-1:], output_gains.shape[-1:], absorption.shape[-2:])
    if ends != ((lines, lines), (lines,), (lines,), (lines, 6)):
        got = ", ".join(f"{name} {tuple(t.shape)}" for name, t in named.items())
        raise ValueError(f"{lines} delays need matrix ({lines}, {lines}), gains (..., {lines}), absorption (..., {lines}, 6); got {got}")
    leading = {"x": x.shape[:-1], "input_gains": input_gains.shape[:-1], "output_gains": output_gains.shape[:-1], "absorption": absorption.shape[:-2]}
    _check_batch(**leading)
    batch = torch.broadcast_shapes(*leading.values())
    dtype = x.dtype
    for t in named.values():
        dtype = torch.promote_types(dtype, t.dtype)
    longest = max(delays)
    if state is None:
        state = NetworkState(x.new_zeros(*batch, lines, longest, dtype=dtype), x.new_zeros(*batch, lines, 2, dtype=dtype))
    if not isinstance(state, NetworkState):
        raise TypeError(f"state must be the NetworkState a previous call returned, got {type(state).__name__}")
    if state.lines.shape != (*batch, lines, longest) or state.filters.shape != (*batch, lines, 2):
        raise ValueError(
            f"state (lines {tuple(state.lines.shape)}, filters {tuple(state.filters.shape)}) does not fit batch "
            f"{tuple(batch)} and delays {delays}: pass the state of the same network"
        )
    history, memory = state.lines.to(dtype), state.filters.to(dtype)
    matrix, b, c = matrix.to(dtype), input_gains.to(dtype).unsqueeze(-1), output_gains.to(dtype).unsqueeze(-1)
    b0, b1, pole = (absorption[..., i].to(dtype).unsqueeze(-1) for i in (0, 1, 4))
    pole = -pole
    start = longest - torch.tensor(delays, device=x.device).unsqueeze(-1)  # where each line's output starts in the history
    outputs = []
    for begin in range(0, x.shape[-1], min(delays)):
        chunk = x[..., begin : begin + min(delays)].to(dtype).unsqueeze(-2)
        steps = chunk.shape[-1]
        # Every read lies before this chunk: steps <= d_i.
        s = history.gather(-1, (start + torch.arange(steps, device=x.device)).expand(*batch, lines, steps))
        previous = torch.cat([memory[..., :1], s[..., :-1]], -1)
        a = linear_recurrence(b0 * s + b1 * previous, pole, memory[..., 1], check_finite=False)
        outputs.append((c * a).sum(-2))
        history = torch.cat([history[..., steps:], matrix @ a + b * chunk], -1)
        memory = torch.stack([s[..., -1], a[..., -1]], -1)
    return torch.cat(outputs, -1), NetworkState(history, memory)
