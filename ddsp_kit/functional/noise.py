r"""Noise: reproducible white noise and DDSP-style filtered noise, both streaming-exact.

**White noise** is counter-based: sample :math:`n` of the stream of batch row
:math:`b` and channel :math:`c` is a hash of ``(seed, b, c, n)`` (Chris
Wellons' ``lowbias32`` integer hash, applied three times, on 32-bit words),
so the same seed gives the same samples however a stream is split into
blocks, and the state is only the index of the next sample. The 32-bit hash
becomes a uniform value :math:`u = (h + 1/2) / 2^{32}` in (0, 1), then
``"uniform"`` noise :math:`2u - 1` (variance 1/3) or ``"gaussian"`` noise
:math:`\sqrt{2}\,\mathrm{erf}^{-1}(2u - 1)` (variance 1, tails to 6.2).

**Filtered noise** (:func:`filtered_noise`) cuts uniform noise into frames of
``hop`` samples on the stream's own grid (sample 0 starts frame 0) and filters
each frame with a causal FIR designed from ``n_bands`` magnitudes
(:func:`minimum_phase_fir`), the filtered frames overlapping and adding:

.. math::
    y[t] = \sum_{k=0}^{L-1} h_{m(t-k)}[k]\; n[t-k], \qquad m(j) = \lfloor j / \mathrm{hop} \rfloor,

a time-varying FIR in which every noise sample is filtered by its own frame's
filter. Frame :math:`m` uses the magnitudes at its first sample, so the
output never depends on later controls (no latency); with frame-rate
controls at the same hop, that is the protocol's causal ramp one sample into
the frame, so a frame's magnitudes act one frame later. A stream carries the
sample index, the filter of the frame in progress and the overlap tail
(``hop + L - 2`` samples).

The filters are minimum phase, DDSP's ``frequency_filter`` made causal
without delay: the band magnitudes, linearly spaced from 0 Hz to Nyquist, are
interpolated linearly in dB onto an FFT grid ``8 max(L, n_bands)`` long, the real cepstrum
of that log-magnitude is folded onto positive quefrencies (the homomorphic
minimum-phase filter with the same magnitude), and the impulse response is
cut to ``L`` taps. With ``L = 2 (n_bands - 1)`` the response follows the
interpolated magnitudes to 0.2 dB (max, 0.02 dB RMS) for a smooth 65-band
curve spanning 30 dB; sharper curves than ``L`` taps resolve (say bands
alternating by 20 dB) are smoothed, by up to a few dB at their extremes.
"""

import math
import numbers
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .filtering import _signal

Tensor = torch.Tensor

NOISE_DISTRIBUTIONS = ("uniform", "gaussian")
_WORD = 0xFFFFFFFF
# The FFT grid of the minimum-phase design is this many times the filter length (cepstral aliasing).
_DESIGN_OVERSAMPLING = 8


def _multiply(x: Tensor, factor: int) -> Tensor:
    """``x * factor mod 2**32`` for 32-bit ``x`` in int64, in 16-bit halves so that nothing overflows."""
    return (x * (factor & 0xFFFF) + (((x * (factor >> 16)) & 0xFFFF) << 16)) & _WORD


def _hash(x: Tensor) -> Tensor:
    """Wellons' lowbias32 on 32-bit words held in int64."""
    x = x ^ (x >> 16)
    x = _multiply(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _multiply(x, 0x846CA68B)
    return x ^ (x >> 16)


def _integer(name: str, value, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int in {bound}, got {value}")
    return int(value)


def _shape(shape) -> Tuple[int, int, int]:
    if len(shape) != 3 or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0 for n in shape):
        raise ValueError(f"shape must be (batch, channels, samples) of ints >= 0, got {tuple(shape)}")
    return tuple(int(n) for n in shape)


def white_noise(
    shape: Sequence[int],
    *,
    seed: int,
    start: int = 0,
    distribution: str = "uniform",
    dtype: torch.dtype = torch.float32,
    device=None,
) -> Tensor:
    r"""Samples ``start .. start + T - 1`` of reproducible white noise streams.

    Args:
        shape: ``(batch, channels, T)``; each row and channel is its own stream.
        seed: an int in [0, 2**32).
        start: index of the first sample in the stream, an int >= 0.
        distribution: ``"uniform"`` (in (-1, 1)) or ``"gaussian"`` (unit variance).
        dtype: float32 or float64.
        device: where to make it.

    Returns:
        ``(batch, channels, T)``.

    Example:
        >>> whole = white_noise((1, 2, 10), seed=7)
        >>> torch.equal(whole[..., 4:], white_noise((1, 2, 6), seed=7, start=4))
        True
    """
    batch, channels, steps = _shape(shape)
    seed = _integer("seed", seed, 0, 1 << 32)
    start = _integer("start", start, 0, 1 << 62)
    if distribution not in NOISE_DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {NOISE_DISTRIBUTIONS}, got {distribution!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    rows = torch.arange(batch, device=device).reshape(-1, 1, 1)
    columns = torch.arange(channels, device=device).reshape(1, -1, 1)
    key = _hash(_hash(_hash(torch.tensor(seed, device=device)) ^ rows) ^ columns)
    index = torch.arange(start, start + steps, device=device)
    # The low word feeds the first hash; the high word (0 for the first 2**32 samples) the second.
    words = _hash(_hash((index & _WORD) ^ key) ^ _multiply(index >> 32, 0x9E3779B9))
    uniform = (words.double() + 0.5) / 2.0**32
    values = 2 * uniform - 1 if distribution == "uniform" else math.sqrt(2) * torch.erfinv(2 * uniform - 1)
    return values.to(dtype)


def minimum_phase_fir(magnitudes: Tensor, taps: int) -> Tensor:
    r"""Minimum-phase FIR filters from magnitude responses (linear, > 0).

    ``magnitudes[..., i]`` is the gain at :math:`i / (n - 1)` times Nyquist; in
    between, the response is interpolated linearly in dB (see the module notes).

    Args:
        magnitudes: ``(..., n_bands)``, ``n_bands >= 2``, every value > 0.
        taps: filter length, an int >= 1.

    Returns:
        ``(..., taps)``, in the dtype of ``magnitudes``.

    Example:
        >>> h = minimum_phase_fir(torch.tensor([1.0, 0.5, 0.25]), 16)  # gains at 0, Nyquist / 2, Nyquist
        >>> torch.fft.rfft(h).abs()[::4].round(decimals=2)
        tensor([0.9800, 0.5000, 0.2500])
    """
    magnitudes = _signal(magnitudes, "magnitudes", finite=True)
    taps = _integer("taps", taps, 1)
    bands = magnitudes.shape[-1]
    if bands < 2:
        raise ValueError(f"magnitudes need n_bands >= 2 (0 Hz and Nyquist at least), got shape {tuple(magnitudes.shape)}")
    if not bool((magnitudes > 0).all()):
        raise ValueError("magnitudes must be > 0 (their logarithm shapes the minimum-phase filter)")
    size = _DESIGN_OVERSAMPLING * max(taps, bands)
    half = size // 2
    position = torch.arange(half + 1, dtype=torch.float64, device=magnitudes.device) * ((bands - 1) / half)
    lower = position.floor().long().clamp(max=bands - 2)
    fraction = (position - lower).to(magnitudes.dtype)
    log_magnitude = torch.log(magnitudes)
    curve = log_magnitude[..., lower] * (1 - fraction) + log_magnitude[..., lower + 1] * fraction
    # Fold the (even) real cepstrum onto positive quefrencies: the minimum-phase log-spectrum.
    fold = torch.full((size,), 2.0, dtype=magnitudes.dtype, device=magnitudes.device)
    fold[0], fold[half], fold[half + 1 :] = 1.0, 1.0, 0.0
    cepstrum = torch.fft.irfft(curve, size) * fold
    return torch.fft.irfft(torch.exp(torch.fft.rfft(cepstrum)), size)[..., :taps]


def _noise_state(state: Optional[Dict[str, Tensor]], batch: torch.Size, tail_size: int, like: Tensor):
    if state is None:
        return 0, like.new_zeros(*batch, tail_size), None
    missing = {"position", "tail", "filter"} - set(state)
    if missing:
        raise ValueError(f"filtered-noise state needs 'position', 'tail' and 'filter', missing {sorted(missing)}")
    tail = state["tail"]
    if tail.shape[-1] != tail_size:
        raise ValueError(f"state tail holds {tail.shape[-1]} samples, this filter needs {tail_size} (another hop or taps?)")
    return int(state["position"]), tail, state["filter"]


def filtered_noise(
    magnitudes: Tensor,
    shape: Sequence[int],
    *,
    hop: int,
    taps: int,
    seed: int,
    state: Optional[Dict[str, Tensor]] = None,
) -> Tuple[Tensor, Dict[str, Tensor]]:
    r"""Uniform noise filtered frame by frame by minimum-phase FIRs (overlap-add, streaming-exact).

    See the module notes for the frames, the filters and the state.

    Args:
        magnitudes: ``(batch or 1, channels or 1, T or 1, n_bands)``, > 0: the
            magnitude response at every sample (only each frame's first sample
            is read) or constant.
        shape: ``(batch, channels, T)`` of the output.
        hop: frame length, samples, an int >= 1.
        taps: FIR length, an int >= 1.
        seed: noise seed (see :func:`white_noise`).
        state: ``{"position", "tail", "filter"}`` from the previous block; the stream's start if None.

    Returns:
        ``(y, state)``: ``y`` ``(batch, channels, T)`` in the dtype of ``magnitudes``.

    Example:
        >>> flat = torch.ones(1, 1, 1, 9)
        >>> y, _ = filtered_noise(flat, (1, 1, 64), hop=16, taps=16, seed=0)
        >>> torch.allclose(y, white_noise((1, 1, 64), seed=0), atol=1e-6)  # an all-pass filter
        True
    """
    magnitudes = _signal(magnitudes, "magnitudes")  # the values read are checked by the design
    hop, taps = _integer("hop", hop, 1), _integer("taps", taps, 1)
    batch, channels, steps = _shape(shape)
    if magnitudes.dim() != 4 or magnitudes.shape[-2] not in (1, steps):
        raise ValueError(
            f"magnitudes must be (batch or 1, channels or 1, T or 1, n_bands) for output {tuple(shape)}, got {tuple(magnitudes.shape)}"
        )
    tail_size = hop + taps - 2
    position, tail, carried = _noise_state(state, torch.Size([batch, channels]), tail_size, magnitudes)
    offset = position % hop
    frames = -(-(offset + steps) // hop)
    # Frames starting in this block take the magnitudes at their first sample; one already under
    # way keeps the filter it started with.
    first = (hop - offset) % hop
    starts = torch.arange(first, max(first, steps), hop, device=magnitudes.device)
    parts = []
    if offset:
        if carried is None:
            raise ValueError("filtered-noise state lacks the filter of the frame in progress")
        parts.append(carried.unsqueeze(-2))
    if len(starts):
        designed = minimum_phase_fir(magnitudes if magnitudes.shape[-2] == 1 else magnitudes[..., starts, :], taps)
        parts.append(designed.expand(*designed.shape[:-2], len(starts), taps))
    lead = torch.broadcast_shapes(*(part.shape[:-2] for part in parts))
    filters = torch.cat([part.expand(*lead, *part.shape[-2:]) for part in parts], -2)
    noise = white_noise(shape, seed=seed, start=position, dtype=magnitudes.dtype, device=magnitudes.device)
    framed = F.pad(noise, (offset, frames * hop - offset - steps)).unflatten(-1, (frames, hop))
    length = hop + taps - 1
    size = 1 << (length - 1).bit_length()
    pieces = torch.fft.irfft(torch.fft.rfft(framed, size) * torch.fft.rfft(filters, size), size)[..., :length]
    pieces = pieces.expand(batch, channels, frames, length)
    # Overlap-add: piece m starts at sample m * hop of the frame grid.
    summed = F.fold(
        pieces.reshape(batch * channels, frames, length).transpose(1, 2),
        output_size=(1, (frames - 1) * hop + length),
        kernel_size=(1, length),
        stride=(1, hop),
    ).reshape(batch, channels, -1)[..., offset:]
    total = steps + tail_size
    mixed = F.pad(summed, (0, total - summed.shape[-1])) + F.pad(tail.expand(batch, channels, tail_size), (0, steps))
    next_state = {
        "position": torch.tensor(position + steps, device=magnitudes.device),
        "tail": mixed[..., steps:],
        "filter": filters[..., -1, :],
    }
    return mixed[..., :steps], next_state
