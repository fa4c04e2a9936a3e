r"""Oscillators and the ADSR envelope, with their streaming state.

**Phase.** Every oscillator runs on a phase counted in cycles: at frequency
:math:`f[n]` Hz it advances by :math:`f[n] / f_s` per sample, and sample
:math:`n` is at :math:`\phi[n] = \phi_0 + \sum_{i<n} f[i] / f_s`, wrapped
into [0, 1). The sum is a cumulative sum in float64, split so that it hardly
rounds (see :func:`oscillator_phase`): one pass of 2**22 samples (87 s at
48 kHz) stays within 1e-11 cycles of the exact phase (measured). The phase
after the last sample is the state a stream passes on. Every waveform starts
like :math:`\sin 2\pi\phi`: 0 at :math:`\phi = 0`, rising.

**Band limiting**, per waveform:

* :func:`sine`: exact.
* :func:`harmonic_synth` (additive): harmonic :math:`k` is faded out with a
  raised cosine as :math:`k f_0` goes from 0.9 to 1.0 times Nyquist, so that a
  harmonic crossing Nyquist fades smoothly instead of clicking, and nothing
  above Nyquist is synthesised.
* :func:`sawtooth`, :func:`square`, :func:`triangle`: four-point polyBLEP
  (jumps) and polyBLAMP (corners) from the integrated cubic B-spline. At a
  constant frequency the output is exactly the ideal waveform convolved with
  a cubic B-spline four samples wide, then sampled: a partial at :math:`f`
  keeps :math:`\mathrm{sinc}^4(f / f_s)` of its amplitude (-0.57 dB at
  :math:`f_s/10`, -3.6 dB at :math:`f_s/4`), and so does every partial above
  Nyquist before it aliases. Measured on 5 kHz waveforms at 48 kHz, as that
  model predicts: the strongest alias of the sawtooth and the square (the
  5th harmonic, folded to 23 kHz) is 30.5 dB below the fundamental and every
  alias below 16 kHz 55 dB below it (the common two-point polyBLEP: about 22
  and 36 dB); the triangle's are 44.5 and 72 dB below.
* :func:`wavetable`: mipmapped tables. Level :math:`j` keeps the harmonics
  :math:`k \le \lfloor N/2 \rfloor / 2^j` of the table (its DFT truncated),
  stored at the full length :math:`N` (so oversampled :math:`2^j` times, which
  makes linear interpolation accurate); each sample crossfades the two levels
  just above :math:`\ell = \log_2(N f / f_s)`, so a harmonic fades out as it
  rises from :math:`f_s/4` to :math:`f_s/2` and none reaches Nyquist. What
  remains is the error of linear interpolation, largest at low notes (fewest
  oversampled levels): measured against exact trigonometric interpolation of
  the same levels, for a 2048-sample sawtooth table at 48 kHz, -58 dB
  (relative RMS) at 55 Hz, -85 dB at 440 Hz, -114 dB at 5 kHz.

The **ADSR** envelope (:func:`adsr`) is one first-order linear recurrence
:math:`e[n] = c[n]\,e[n-1] + d[n]` whose coefficients follow from the gate
alone (see there), so it is exact, differentiable in its times and level, and
streams with a three-value state.
"""

import functools
import math
from typing import Dict, Optional, Tuple, Union

import torch

from ..kernels import linear_recurrence
from .design import check_sample_rate
from .filtering import _check_batch, _signal

Tensor = torch.Tensor
Value = Union[float, Tensor]

# Phase increments are split on this grid of cycles (see oscillator_phase).
_GRID = 2.0**24
# Harmonics fade out between these fractions of the sample rate (0.9 and 1.0 times Nyquist).
_FADE_START, _FADE_STOP = 0.45, 0.5


def _wrap(cycles: Tensor) -> Tensor:
    """Phase into [0, 1): ``x - floor(x)`` rounds to 1 for tiny negative ``x``, which counts as 0."""
    wrapped = cycles - torch.floor(cycles)
    return torch.where(wrapped < 1, wrapped, wrapped - 1)


def _phase_state(phase: Optional[Tensor], like: Tensor) -> Tensor:
    if phase is None:
        return like.new_zeros(1, dtype=torch.float64)
    phase = _signal(phase, "phase", finite=True)
    if phase.shape[-1] != 1:
        raise ValueError(f"phase must be (..., 1) cycles (the state of the previous block), got shape {tuple(phase.shape)}")
    return phase.double()


def oscillator_phase(frequency: Tensor, *, sample_rate: float, phase: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""The running phase of an oscillator, in cycles, accumulated in float64.

    Args:
        frequency: Hz, per sample, ``(..., T)`` (``expand`` a constant one).
        sample_rate: Hz.
        phase: cycles at the first sample, ``(..., 1)`` (the state a previous
            block returned); 0 if None.

    Returns:
        ``(phase, next)``, float64: the phase of every sample, wrapped into
        [0, 1), ``(*batch, T)``, and the phase of the sample after the last,
        ``(*batch, 1)``.

    Shape:
        ``batch`` is the broadcast of the leading dims of ``frequency`` and ``phase``.

    Example:
        >>> oscillator_phase(torch.full((3,), 12000.0), sample_rate=48000)
        (tensor([0.0000, 0.2500, 0.5000], dtype=torch.float64), tensor([0.7500], dtype=torch.float64))
    """
    sample_rate = check_sample_rate(sample_rate)
    frequency = _signal(frequency, "frequency", finite=True)
    start = _phase_state(phase, frequency)
    _check_batch(frequency=frequency.shape[:-1], phase=start.shape[:-1])
    step = frequency.double() / sample_rate
    # Each increment is a multiple of 2**-24 cycles, whose running sum is exact in float64 (for
    # 2**30 samples below Nyquist), plus a remainder below 2**-25, whose running sum rounds far
    # less than the increments' would (a plain cumsum drifts by 2e-6 cycles in 2**22 samples).
    coarse = torch.round(step * _GRID) / _GRID
    exact = torch.cumsum(coarse, -1)
    total = start + (exact - torch.floor(exact)) + torch.cumsum(step - coarse, -1)
    before = torch.cat([start.expand(*total.shape[:-1], 1), total[..., :-1]], -1)
    return _wrap(before), _wrap(total[..., -1:])


def _check_band(frequency: Tensor, sample_rate: float) -> None:
    """Band-limited waveforms need every frequency in (0, Nyquist)."""
    if not bool(((frequency > 0) & (frequency < sample_rate / 2)).all()):
        low, high = float(frequency.detach().min()), float(frequency.detach().max())
        raise ValueError(f"frequency must lie in (0, {sample_rate / 2:g}) Hz (below Nyquist), got values from {low:g} to {high:g}")


def sine(frequency: Tensor, *, sample_rate: float, phase: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Sine wave :math:`\sin 2\pi\phi[n]` with a continuous phase.

    Args:
        frequency: Hz, per sample, ``(..., T)``.
        sample_rate: Hz.
        phase: cycles at the first sample, ``(..., 1)``; 0 if None.

    Returns:
        ``(y, phase)``: ``y`` ``(*batch, T)`` in the dtype of ``frequency`` and
        the next phase (see :func:`oscillator_phase`).

    Example:
        >>> y, _ = sine(torch.full((4,), 12000.0), sample_rate=48000)
        >>> y.round(decimals=4)
        tensor([ 0.,  1.,  0., -1.])
    """
    cycles, following = oscillator_phase(frequency, sample_rate=sample_rate, phase=phase)
    return torch.sin(2 * math.pi * cycles).to(frequency.dtype), following


def _step_residual(t: Tensor) -> Tensor:
    r"""Band-limited minus ideal unit step at ``t`` samples from the jump (odd; zero for ``|t| >= 2``).

    The band-limited step is the integral of the cubic B-spline
    :math:`B_3(t) = 2/3 - t^2 + |t|^3/2` (``|t| <= 1``), :math:`(2 - |t|)^3/6` (``1 <= |t| <= 2``).
    """
    a = t.abs()
    inner = 0.5 - 2 * a / 3 + a**3 / 3 - a**4 / 8
    outer = (2 - a).clamp(min=0) ** 4 / 24
    before = torch.where(a < 1, inner, outer)  # the band-limited step at -|t|
    return torch.where(t < 0, before, -before)


def _ramp_residual(t: Tensor) -> Tensor:
    """Band-limited minus ideal unit ramp ``max(t, 0)`` (the integral of :func:`_step_residual`; even)."""
    a = t.abs()
    inner = 7 / 30 - a / 2 + a**2 / 3 - a**4 / 12 + a**5 / 40
    outer = (2 - a).clamp(min=0) ** 5 / 120
    return torch.where(a < 1, inner, outer)


def _edge(cycles: Tensor, increment: Tensor, at: Value, residual) -> Tuple[Tensor, Tensor]:
    """The residual of the edges at phase ``at`` nearest each sample (the one before and the one
    after, in samples), and the phase since the last of them (in [0, 1))."""
    since = _wrap(cycles - at)
    return residual(since / increment) + residual((since - 1) / increment), since


def _band_limited(frequency: Tensor, sample_rate: float, phase: Optional[Tensor]):
    sample_rate = check_sample_rate(sample_rate)
    frequency = _signal(frequency, "frequency", finite=True)
    _check_band(frequency, sample_rate)
    cycles, following = oscillator_phase(frequency, sample_rate=sample_rate, phase=phase)
    return cycles, frequency.double() / sample_rate, following


def sawtooth(frequency: Tensor, *, sample_rate: float, phase: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Band-limited rising sawtooth in [-1, 1] (four-point polyBLEP).

    It rises from 0 at phase 0 and jumps from 1 to -1 at phase 1/2; its
    harmonics are :math:`(-1)^{k+1} (2 / \pi k) \sin 2\pi k\phi`, each scaled
    by :math:`\mathrm{sinc}^4(k f / f_s)` (see the module notes).

    Args:
        frequency: Hz, per sample, ``(..., T)``, in (0, sample_rate / 2).
        sample_rate: Hz.
        phase: cycles at the first sample, ``(..., 1)``; 0 if None.

    Returns:
        ``(y, phase)``: ``y`` ``(*batch, T)`` in the dtype of ``frequency`` and the next phase.

    Example:
        >>> y, _ = sawtooth(torch.full((4,), 100.0), sample_rate=48000)
        >>> y.round(decimals=4)  # far from the jump it is the naive ramp 2 phi
        tensor([0.0000, 0.0042, 0.0083, 0.0125])
    """
    cycles, increment, following = _band_limited(frequency, sample_rate, phase)
    residual, since = _edge(cycles, increment, 0.5, _step_residual)
    return (2 * since - 1 - 2 * residual).to(frequency.dtype), following


def square(frequency: Tensor, width: Value = 0.5, *, sample_rate: float, phase: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Band-limited pulse wave, 1 for phases in [0, ``width``) and -1 after (four-point polyBLEP).

    ``width = 1/2`` is the square wave (odd harmonics :math:`(4 / \pi k) \sin
    2\pi k\phi`); other widths have a mean of ``2 width - 1``. Gradients reach
    ``width`` through the band-limited edge.

    Args:
        frequency: Hz, per sample, ``(..., T)``, in (0, sample_rate / 2).
        width: duty cycle in (0, 1), a number or a tensor broadcasting against ``frequency``.
        sample_rate: Hz.
        phase: cycles at the first sample, ``(..., 1)``; 0 if None.

    Returns:
        ``(y, phase)``: ``y`` ``(*batch, T)`` in the dtype of ``frequency`` and the next phase.

    Example:
        >>> y, _ = square(torch.full((7,), 4000.0), sample_rate=48000)
        >>> [round(v, 3) for v in y.tolist()]
        [0.0, 0.917, 1.0, 1.0, 1.0, 0.917, 0.0]
    """
    cycles, increment, following = _band_limited(frequency, sample_rate, phase)
    width = torch.as_tensor(width, dtype=torch.float64) if not isinstance(width, Tensor) else width
    if not bool(((width > 0) & (width < 1)).all()):
        raise ValueError(f"width must lie in (0, 1), got values from {float(width.min()):g} to {float(width.max()):g}")
    rise, since_rise = _edge(cycles, increment, 0.0, _step_residual)
    fall, since_fall = _edge(cycles, increment, width.double(), _step_residual)
    # High while the rising edge is the more recent one (decided on the same phases as the residuals).
    naive = torch.where(since_rise < since_fall, 1.0, -1.0)
    return (naive + 2 * rise - 2 * fall).to(frequency.dtype), following


def triangle(frequency: Tensor, *, sample_rate: float, phase: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Band-limited triangle in [-1, 1] (four-point polyBLAMP at the corners).

    Peaks at phase 1/4 and troughs at 3/4; its harmonics are
    :math:`(-1)^{(k-1)/2} (8 / \pi^2 k^2) \sin 2\pi k\phi` for odd :math:`k`,
    each scaled by :math:`\mathrm{sinc}^4(k f / f_s)`.

    Args:
        frequency: Hz, per sample, ``(..., T)``, in (0, sample_rate / 2).
        sample_rate: Hz.
        phase: cycles at the first sample, ``(..., 1)``; 0 if None.

    Returns:
        ``(y, phase)``: ``y`` ``(*batch, T)`` in the dtype of ``frequency`` and the next phase.

    Example:
        >>> y, _ = triangle(torch.full((5,), 100.0), sample_rate=48000)
        >>> y.round(decimals=4)
        tensor([0.0000, 0.0083, 0.0167, 0.0250, 0.0333])
    """
    cycles, increment, following = _band_limited(frequency, sample_rate, phase)
    trough, since_trough = _edge(cycles, increment, 0.75, _ramp_residual)
    peak, _ = _edge(cycles, increment, 0.25, _ramp_residual)
    # The slope (per sample) turns by +8 f/fs at the trough and by -8 f/fs at the peak.
    naive = 1 - 4 * (since_trough - 0.5).abs()
    return (naive + 8 * increment * (trough - peak)).to(frequency.dtype), following


def nyquist_fade(frequency: Tensor, *, sample_rate: float) -> Tensor:
    r"""Gain of a partial at ``frequency``: 1 below 0.9 Nyquist, a raised-cosine fade to 0 at Nyquist, 0 above.

    Args:
        frequency: Hz, any shape (its magnitude counts).
        sample_rate: Hz.

    Example:
        >>> nyquist_fade(torch.tensor([1000.0, 22800.0, 24000.0, 30000.0]), sample_rate=48000)
        tensor([1.0000, 0.5000, 0.0000, 0.0000])
    """
    sample_rate = check_sample_rate(sample_rate)
    position = (frequency.abs() / sample_rate - _FADE_START) / (_FADE_STOP - _FADE_START)
    return 0.5 + 0.5 * torch.cos(math.pi * position.clamp(0, 1))


def harmonic_synth(
    f0: Tensor, amplitudes: Tensor, *, sample_rate: float, phase: Optional[Tensor] = None, normalize: bool = False
) -> Tuple[Tensor, Tensor]:
    r"""Additive synthesis of harmonics :math:`\sum_k a_k[n]\, g_k[n] \sin 2\pi k\phi[n]`.

    :math:`\phi` is the phase of ``f0`` (:func:`oscillator_phase`), so every
    harmonic stays phase-locked and continuous across samples and blocks;
    :math:`g_k` is :func:`nyquist_fade` at :math:`k f_0`, per sample. With
    ``normalize`` the faded amplitudes are divided by their sum, so that
    ``amplitudes`` act as a distribution (DDSP's harmonic distribution) and
    the loudness is set by the caller.

    Args:
        f0: fundamental, Hz, per sample, ``(..., T)``.
        amplitudes: ``(..., n_harmonics, T or 1)``, harmonic ``k + 1`` in row ``k``.
        sample_rate: Hz.
        phase: cycles of the fundamental at the first sample, ``(..., 1)``; 0 if None.
        normalize: divide the faded amplitudes by their sum.

    Returns:
        ``(y, phase)``: ``y`` ``(*batch, T)`` in the promoted dtype of ``f0`` and
        ``amplitudes``, and the next phase of the fundamental.

    Example:
        >>> y, _ = harmonic_synth(torch.full((4,), 6000.0), torch.tensor([[1.0], [0.5]]), sample_rate=48000)
        >>> y.round(decimals=4)
        tensor([0.0000, 1.2071, 1.0000, 0.2071])
    """
    f0 = _signal(f0, "f0", finite=True)
    amplitudes = _signal(amplitudes, "amplitudes", finite=True)
    if amplitudes.dim() < 2 or amplitudes.shape[-1] not in (1, f0.shape[-1]):
        raise ValueError(
            f"amplitudes must be (..., n_harmonics, T or 1) for f0 of shape {tuple(f0.shape)}, got {tuple(amplitudes.shape)}"
        )
    _check_batch(f0=f0.shape[:-1], amplitudes=amplitudes.shape[:-2])
    cycles, following = oscillator_phase(f0, sample_rate=sample_rate, phase=phase)
    dtype = torch.promote_types(f0.dtype, amplitudes.dtype)
    number = torch.arange(1, amplitudes.shape[-2] + 1, device=f0.device).unsqueeze(-1)
    # Harmonic phases wrapped in float64, then rounded: an error of 1e-7 cycles at most.
    harmonic = cycles.unsqueeze(-2) * number
    waves = torch.sin(2 * math.pi * _wrap(harmonic).to(dtype))
    weights = amplitudes * nyquist_fade(f0.unsqueeze(-2) * number, sample_rate=sample_rate).to(dtype)
    if normalize:
        weights = weights / weights.sum(-2, keepdim=True).clamp(min=torch.finfo(dtype).tiny)
    return (weights * waves).sum(-2), following


def wavetable_levels(table: Tensor) -> Tensor:
    r"""Band-limited mipmaps of a one-period table: level :math:`j` keeps harmonics :math:`k \le \lfloor N/2 \rfloor / 2^j`.

    Args:
        table: one period, ``(N,)``, ``N >= 2``.

    Returns:
        ``(levels, N)``: levels ``0 .. J + 1`` with :math:`J = \lfloor \log_2 \lfloor N/2 \rfloor \rfloor`;
        the last keeps only the mean.

    Example:
        >>> wavetable_levels(torch.tensor([1.0, 0.5, -1.0, 0.5]))
        tensor([[ 1.0000,  0.5000, -1.0000,  0.5000],
                [ 1.2500,  0.2500, -0.7500,  0.2500],
                [ 0.2500,  0.2500,  0.2500,  0.2500]])
    """
    table = _signal(table, "table", finite=True)
    if table.dim() != 1 or table.shape[0] < 2:
        raise ValueError(f"table must be one period, (N,) with N >= 2, got shape {tuple(table.shape)}")
    size = table.shape[0]
    top = size // 2
    count = top.bit_length() + 1
    keep = torch.tensor([top >> j for j in range(count)], device=table.device).unsqueeze(-1)
    mask = torch.arange(top + 1, device=table.device) <= keep
    return torch.fft.irfft(torch.fft.rfft(table) * mask, size)


def wavetable(frequency: Tensor, table: Tensor, *, sample_rate: float, phase: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Wavetable oscillator: the table's band-limited mipmaps read with linear interpolation.

    Sample :math:`n` reads position :math:`N\phi[n]` of the two levels
    :math:`a = \lfloor \ell \rfloor + 1` and :math:`a + 1`, mixed with weight
    :math:`\ell - \lfloor \ell \rfloor` on the coarser one, where
    :math:`\ell = \max(\log_2(N f / f_s), -1)` (see the module notes): every
    harmonic read is below Nyquist. Gradients reach the table, and the
    frequency through both the phase and the crossfade.

    Args:
        frequency: Hz, per sample, ``(..., T)``, in (0, sample_rate / 2).
        table: one period, ``(N,)``.
        sample_rate: Hz.
        phase: cycles at the first sample, ``(..., 1)``; 0 if None.

    Returns:
        ``(y, phase)``: ``y`` ``(*batch, T)`` in the dtype of ``table`` and the next phase.

    Example:
        >>> table = torch.sin(2 * math.pi * torch.arange(64) / 64)
        >>> y, _ = wavetable(torch.full((3,), 6000.0), table, sample_rate=48000)
        >>> y.round(decimals=4)
        tensor([0.0000, 0.7071, 1.0000])
    """
    sample_rate = check_sample_rate(sample_rate)
    frequency = _signal(frequency, "frequency", finite=True)
    _check_band(frequency, sample_rate)
    levels = wavetable_levels(table)
    count, size = levels.shape
    cycles, following = oscillator_phase(frequency, sample_rate=sample_rate, phase=phase)
    level = torch.log2(size * frequency.double() / sample_rate).clamp(min=-1)
    below = torch.floor(level)
    upper = (level - below).to(levels.dtype)
    fine = (below + 1).long().clamp(max=count - 1)
    coarse = (fine + 1).clamp(max=count - 1)
    position = cycles * size
    index = torch.floor(position)
    step = (position - index).to(levels.dtype)
    index = index.long().clamp(max=size - 1)  # N (1 - 1e-17) may round to N
    following_index = (index + 1) % size
    flat = levels.reshape(-1)

    def read(row):
        start = row * size
        return flat[start + index] * (1 - step) + flat[start + following_index] * step

    return read(fine) * (1 - upper) + read(coarse) * upper, following


def _gate_state(state: Optional[Dict[str, Tensor]], gate: Tensor):
    if state is None:
        zero = gate.new_zeros(1, dtype=torch.float64)
        return zero, zero, torch.zeros(1, dtype=torch.bool, device=gate.device)
    missing = {"envelope", "progress", "gate"} - set(state)
    if missing:
        raise ValueError(f"ADSR state needs 'envelope', 'progress' and 'gate', missing {sorted(missing)}")
    return state["envelope"].double(), state["progress"].double(), state["gate"] > 0.5


def adsr(
    gate: Tensor,
    attack_ms: Value,
    decay_ms: Value,
    sustain: Value,
    release_ms: Value,
    *,
    sample_rate: float,
    state: Optional[Dict[str, Tensor]] = None,
) -> Tuple[Tensor, Dict[str, Tensor]]:
    r"""ADSR envelope: attack, decay, sustain while the gate is held, release after.

    While the gate is above 1/2: a linear rise from the level at gate-on to 1
    in ``attack_ms`` (whatever the starting level), then an exponential fall
    to ``sustain`` with time constant ``decay_ms``; once the gate drops, an
    exponential fall to 0 with time constant ``release_ms`` (a time constant
    ``tau`` covers 63.2 % of the way in ``tau``). A new gate restarts the
    attack from the current level. The attack's progress :math:`p` (0 at
    gate-on, 1 at its peak) grows by :math:`1/A` per sample for an attack of
    :math:`A` samples, a cumulative sum per gate, so every sample's phase
    follows from the gate alone, and the envelope is the linear recurrence
    :math:`e[n] = c[n]\,e[n-1] + d[n]` with

    * attack: :math:`c = (1 - p[n]) / (1 - p[n-1])`, :math:`d = 1 - c`;
    * decay (the fraction :math:`r` of the sample after the peak, 1 after it):
      :math:`e \leftarrow s + (e - s)\,e^{-r/D}`, composed with the attack's
      step on the sample that reaches the peak;
    * release: :math:`c = e^{-1/R}`, :math:`d = 0`.

    Every coefficient is differentiable in the times and the sustain level
    (:func:`ddsp_kit.kernels.linear_recurrence` gives the gradients).

    Args:
        gate: ``(..., T)``, held where above 1/2.
        attack_ms: attack duration, ms, > 0 (broadcasting against ``gate``, per sample or not).
        decay_ms: decay time constant, ms, > 0.
        sustain: sustain level, in [0, 1].
        release_ms: release time constant, ms, > 0.
        sample_rate: Hz.
        state: ``{"envelope", "progress", "gate"}``, each ``(..., 1)``, from the previous block; at rest if None.

    Returns:
        ``(envelope, state)``: ``(*batch, T)`` in the promoted dtype of the arguments, and the next state.

    Example:
        >>> envelope, _ = adsr(torch.tensor([1.0] * 6 + [0.0] * 2), 0.1, 0.05, 0.5, 0.05, sample_rate=40000)
        >>> [round(v, 3) for v in envelope.tolist()]
        [0.25, 0.5, 0.75, 1.0, 0.803, 0.684, 0.415, 0.252]
    """
    sample_rate = check_sample_rate(sample_rate)
    gate = _signal(gate, "gate", finite=True)
    values = {}
    for name, value in (("attack_ms", attack_ms), ("decay_ms", decay_ms), ("release_ms", release_ms), ("sustain", sustain)):
        tensor = value if isinstance(value, Tensor) else torch.tensor(float(value), dtype=gate.dtype, device=gate.device)
        valid = (tensor >= 0) & (tensor <= 1) if name == "sustain" else (tensor > 0) & torch.isfinite(tensor)
        if not bool(valid.all()):
            allowed = "[0, 1]" if name == "sustain" else "(0, inf) ms"
            raise ValueError(f"{name} must lie in {allowed}, got values from {float(tensor.min()):g} to {float(tensor.max()):g}")
        values[name] = tensor
    dtype = functools.reduce(torch.promote_types, [t.dtype for t in values.values()], gate.dtype)
    samples = sample_rate / 1000
    rate = 1 / (values["attack_ms"].double() * samples)
    envelope, progress, was_on = _gate_state(state, gate)
    on = gate > 0.5
    shape = torch.broadcast_shapes(on.shape, rate.shape, progress.shape, was_on.shape)
    on, rate = on.expand(shape), rate.expand(shape)
    was_on = was_on.expand(*shape[:-1], 1)
    starts = on & ~torch.cat([was_on, on[..., :-1]], -1)
    total = torch.cumsum(torch.where(on, rate, 0.0), -1)
    # The attack's progress: the sum since the latest gate-on (sums at gate-ons never decrease, so
    # cummax finds it), or the carried progress plus the sum while the previous block's gate holds.
    since_start = total - torch.cummax(torch.where(starts, total - rate, 0.0), -1).values
    started = torch.cummax(starts.to(torch.uint8), -1).values.bool()
    progress = torch.where(started, since_start, progress + total)
    previous = progress - rate
    attacking = previous < 1
    attack = torch.where(attacking, (1 - progress.clamp(max=1)) / torch.where(attacking, 1 - previous, 1.0), 1.0)
    after_peak = ((progress - 1) / rate).clamp(0, 1)
    decay = torch.exp(-after_peak / (values["decay_ms"].double() * samples))
    level = values["sustain"].double()
    held = (attack * decay, level * (1 - decay) + (1 - attack) * decay)
    release = torch.exp(-1 / (values["release_ms"].double() * samples))
    c = torch.where(on, held[0], release)
    d = torch.where(on, held[1], 0.0)
    y = linear_recurrence(d, c, envelope.expand(*shape[:-1], 1).squeeze(-1))
    next_state = {
        "envelope": y[..., -1:],
        "progress": torch.where(on[..., -1:], progress[..., -1:], 0.0),
        "gate": on[..., -1:].to(dtype),
    }
    return y.to(dtype), next_state
