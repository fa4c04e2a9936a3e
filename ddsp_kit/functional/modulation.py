r"""Modulation: low-frequency oscillators, amplitude modulation and the phaser's all-pass cascade.

An LFO's phase :math:`\phi` is counted in cycles; at rate :math:`r[n]` Hz it
advances by :math:`r[n] / f_s` per sample, and the phase after the last sample
(wrapped into [0, 1)) is the state a stream passes on, so the waveform runs on
across blocks without a jump. ``sine`` is :math:`\sin 2\pi\phi`; ``triangle``
has the same phase (0 rising at :math:`\phi = 0`, peaks at 1/4 and 3/4).

The phaser's stage is the first-order all-pass
:math:`H(z) = (a + z^{-1}) / (1 + a z^{-1})` with
:math:`a = (t - 1) / (t + 1)`, :math:`t = \tan(\pi f_b / f_s)`, the
pre-warped bilinear transform of :math:`(1 - s/\omega_b)/(1 + s/\omega_b)`:
its phase is :math:`-2\arctan(\tan(\omega/2) / t)`, exactly :math:`-\pi/2`
at the break frequency :math:`f_b`. It runs in normalised-lattice form,

.. math::
    s[n] = c\,u[n] - a\,s[n-1],\qquad y[n] = a\,u[n] + c\,s[n-1],\qquad
    c = \sqrt{1 - a^2} = 2\sqrt{t} / (1 + t),

the same transfer function as the direct form
:math:`y[n] = a\,u[n] + u[n-1] - a\,y[n-1]` when :math:`a` is constant, and
still one first-order recurrence per stage with per-sample coefficient
:math:`-a[n]` (:func:`ddsp_kit.kernels.linear_recurrence`, exact). Each
sample applies the orthogonal map :math:`(u, s[n-1]) \mapsto (y, s[n])`, so
a stage is lossless whatever :math:`a[n]` does
(:math:`\sum y^2 + s[T-1]^2 = \sum u^2 + s[-1]^2`): a swept cascade never gains
energy, where the direct form's gain grows under fast modulation (a
factor 11 over 8 stages with random per-sample coefficients, and a feedback
loop around it diverges). Feedback from the last stage to the input one
sample later, :math:`u[n] = x[n] + k\,y_N[n-1]`, couples the stages; that
loop runs as one state-space recurrence
(:func:`ddsp_kit.kernels.matrix_recurrence`) over the ``N`` lattice states
and :math:`y_N`, exact as well, and for :math:`|k| < 1` its energy gain is at
most :math:`1 / (1 - |k|)^2` for every sweep (the small-gain theorem around a
lossless cascade).
"""

import math
from typing import Optional, Tuple

import torch

from ..kernels import linear_recurrence, matrix_recurrence
from .delay import Value, _batch, _count, _values
from .design import check_sample_rate
from .filtering import _signal
from .oscillators import oscillator_phase

Tensor = torch.Tensor

LFO_SHAPES = ("sine", "triangle")


def lfo(
    rate: Value, num_samples: int, *, sample_rate: float, shape: str = "sine", phase: Optional[Tensor] = None
) -> Tuple[Tensor, Tensor]:
    r"""Low-frequency oscillator in [-1, 1] with a continuous phase.

    Args:
        rate: Hz, in [0, sample_rate / 2]; a number, ``(..., 1)`` or per sample
            ``(..., num_samples)``.
        num_samples: samples to produce, an int >= 1.
        sample_rate: Hz.
        shape: one of ``LFO_SHAPES``.
        phase: starting phase, cycles, ``(..., 1)`` (the returned phase of the
            previous block); 0 if None.

    Returns:
        ``(values, phase)``: ``(*batch, num_samples)`` and the phase after the
        last sample, in [0, 1), ``(*batch, 1)``.

    Shape:
        ``batch`` is the broadcast of the leading dims of ``rate`` and ``phase``.

    Example:
        >>> values, phase = lfo(1000.0, 4, sample_rate=4000, shape="triangle")
        >>> values, phase
        (tensor([ 0.,  1.,  0., -1.]), tensor([0.]))
    """
    sample_rate = check_sample_rate(sample_rate)
    if shape not in LFO_SHAPES:
        raise ValueError(f"shape must be one of {LFO_SHAPES}, got {shape!r}")
    steps = _count("num_samples", num_samples, 1)
    # A number rate takes the phase's dtype (the default dtype without one).
    template = torch.empty(steps, dtype=phase.dtype, device=phase.device) if isinstance(phase, Tensor) else torch.empty(steps)
    rate = _values("rate", rate, template, 0.0, sample_rate / 2, "Hz")
    if phase is None:
        phase = rate.new_zeros(1)
    phase = _signal(phase, "phase", finite=True)
    if phase.shape[-1] != 1:
        raise ValueError(f"phase must be (..., 1) cycles, got shape {tuple(phase.shape)}")
    _batch(rate=rate.shape[:-1], phase=phase.shape[:-1])
    frequency = rate.expand(*rate.shape[:-1], steps) if rate.shape[-1] == 1 else rate
    cycles, final = oscillator_phase(frequency, sample_rate=sample_rate, phase=phase)
    cycles, final = cycles.to(rate.dtype), final.to(rate.dtype)
    if shape == "sine":
        return torch.sin(2 * math.pi * cycles), final
    return 1 - 4 * (torch.remainder(cycles + 0.25, 1.0) - 0.5).abs(), final


def tremolo(x: Tensor, modulator: Value, depth: Value) -> Tensor:
    r"""Amplitude modulation :math:`y = x\,(1 - \delta\,(1 - m) / 2)`: the gain swings from 1 down to :math:`1 - \delta`.

    Args:
        x: real signal, ``(..., T)``.
        modulator: :math:`m`, in [-1, 1] (an :func:`lfo`), ``(..., 1 or T)``.
        depth: :math:`\delta`, in [0, 1], ``(..., 1 or T)`` or a number.

    Shape:
        The broadcast of ``x``, ``modulator`` and ``depth``.

    Example:
        >>> tremolo(torch.ones(3), torch.tensor([1.0, 0.0, -1.0]), 0.5)
        tensor([1.0000, 0.7500, 0.5000])
    """
    x = _signal(x)
    modulator = _values("modulator", modulator, x, -1.0, 1.0)
    depth = _values("depth", depth, x, 0.0, 1.0)
    return x * (1 - depth * (1 - modulator) / 2)


def allpass_coefficient(frequency: Value, sample_rate: float) -> Tensor:
    r"""Coefficient :math:`a` of the first-order all-pass :math:`(a + z^{-1}) / (1 + a z^{-1})` (module docstring).

    Args:
        frequency: break frequency, Hz in (0, sample_rate / 2), where the phase is :math:`-\pi/2`.
        sample_rate: Hz.

    Returns:
        :math:`a`, in (-1, 1), the shape of ``frequency``.

    Example:
        >>> allpass_coefficient(torch.tensor([12000.0]), 48000).abs() < 1e-6  # a quarter of the sample rate
        tensor([True])
    """
    return _lattice(torch.as_tensor(frequency), check_sample_rate(sample_rate))[0]


def _lattice(frequency: Tensor, sample_rate: float) -> Tuple[Tensor, Tensor]:
    r"""``(a, c)`` of the normalised lattice stage, :math:`c = \sqrt{1 - a^2}` without cancellation."""
    t = torch.tan(math.pi * frequency / sample_rate)
    return (t - 1) / (t + 1), 2 * t.sqrt() / (t + 1)


def _cascade_matrix(x: Tensor, a: Tensor, c: Tensor, feedback: Tensor, stages: int, state: Tensor) -> Tensor:
    r"""States :math:`p[n] = (s_1, \dots, s_N, y_N)[n]` of the lattice cascade with feedback :math:`u_0[n] = x[n] + k\,y_N[n-1]`.

    :math:`p[n] = A[n]\,p[n-1] + B[n]\,x[n]`, its rows found by carrying each
    stage's input :math:`u_{i-1}` as a row (and a gain on :math:`x`) through
    :math:`s_i = c\,u_{i-1} - a\,s_i[n-1]`, :math:`u_i = a\,u_{i-1} + c\,s_i[n-1]`.
    """
    eye = torch.eye(stages + 1, dtype=x.dtype, device=x.device)
    a_row, c_row = a.unsqueeze(-1), c.unsqueeze(-1)
    u_row, u_gain = feedback.unsqueeze(-1) * eye[stages], torch.ones_like(a)
    rows, gains = [], []
    for i in range(stages):
        rows.append(c_row * u_row - a_row * eye[i])
        gains.append(c * u_gain)
        u_row, u_gain = a_row * u_row + c_row * eye[i], a * u_gain
    transition = torch.stack(torch.broadcast_tensors(*rows, u_row), -2)
    drive = x.unsqueeze(-1) * torch.stack(torch.broadcast_tensors(*gains, u_gain), -1)
    return matrix_recurrence(drive, transition, state)


def allpass_cascade(
    x: Tensor,
    frequency: Value,
    *,
    stages: int,
    sample_rate: float,
    feedback: Optional[Value] = None,
    state: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    r"""``stages`` first-order all-passes in series with one (per-sample) break frequency, optionally in a feedback loop.

    With equal break frequencies :math:`f_b` the cascade's phase is
    :math:`-2N\arctan(\tan(\omega/2)/\tan(\pi f_b/f_s))`; mixed 50/50 with its
    input (a phaser), it has notches where that phase is an odd multiple of
    :math:`-\pi`: :math:`\omega_m = 2\arctan(\tan(\pi f_b/f_s)\tan(\pi(2m+1)/(2N)))`
    for :math:`2m + 1 < N`.

    Args:
        x: real signal, ``(..., T)``.
        frequency: break frequency :math:`f_b`, Hz in (0, sample_rate / 2);
            a number, ``(..., 1)`` or per sample ``(..., T)``.
        stages: :math:`N`, an int >= 1.
        sample_rate: Hz.
        feedback: None (no loop) or :math:`k` in (-1, 1), the gain from the
            last stage's output back to the input one sample later; same layout.
        state: ``(..., N + 1)``: each stage's lattice state and the last
            output from the previous block; zeros if None.

    Returns:
        ``(y, state)``: the last stage's output ``(*batch, T)`` and the state.

    Shape:
        ``batch`` is the broadcast of the leading dims of ``x``, ``frequency``,
        ``feedback`` and ``state``.

    Example:
        >>> y, _ = allpass_cascade(torch.tensor([1.0, 0.0, 0.0]), 12000.0, stages=1, sample_rate=48000)
        >>> y  # a = 0 at a quarter of the sample rate: a pure one-sample delay
        tensor([0., 1., 0.])
    """
    x = _signal(x)
    stages = _count("stages", stages, 1)
    sample_rate = check_sample_rate(sample_rate)
    frequency = _values("frequency", frequency, x, 0.0, sample_rate / 2, "Hz", open_ends=True)
    if feedback is not None:
        feedback = _values("feedback", feedback, x, -1.0, 1.0, open_ends=True)
    if state is None:
        state = x.new_zeros(stages + 1)
    state = _signal(state, "state", finite=True)
    if state.shape[-1] != stages + 1:
        raise ValueError(f"state must be (..., stages + 1 = {stages + 1}), got shape {tuple(state.shape)}")
    shapes = {"x": x.shape[:-1], "frequency": frequency.shape[:-1], "state": state.shape[:-1]}
    if feedback is not None:
        shapes["feedback"] = feedback.shape[:-1]
    batch = _batch(**shapes)
    a, c = _lattice(frequency, sample_rate)
    dtype = torch.promote_types(x.dtype, a.dtype)
    steps = x.shape[-1]
    x, a, c, state = x.to(dtype).expand(*batch, steps), a.to(dtype), c.to(dtype), state.to(dtype).expand(*batch, stages + 1)
    if feedback is not None:
        states = _cascade_matrix(x, a, c, feedback.to(dtype), stages, state)
        return states[..., stages], states[..., -1, :]
    u, finals = x, []
    for i in range(stages):
        lattice = linear_recurrence(c * u, -a, state[..., i])
        u = a * u + c * torch.cat([state[..., i : i + 1], lattice[..., :-1]], -1)
        finals.append(lattice[..., -1])
    return u, torch.stack([*finals, u[..., -1]], -1)
