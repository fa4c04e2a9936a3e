r"""Topology-preserving (zero-delay-feedback) state-variable filter.

The analog state-variable filter integrated with the trapezoidal rule and its
delay-free loop solved exactly (Zavalishin, "The Art of VA Filter Design";
Simper, "Solving the continuous SVF equations using trapezoidal integration
and equivalent currents"). With :math:`g = \tan(\pi f / f_s)`, damping
:math:`k = 1/Q`, :math:`a_1 = 1 / (1 + g (g + k))`, :math:`a_2 = g a_1`,
:math:`a_3 = g a_2` and the two integrator states :math:`s = (s_1, s_2)`:

.. math::
    v_1 = a_1 s_1 - a_2 s_2 + a_2 x,\qquad v_2 = a_2 s_1 + (1 - a_3) s_2 + a_3 x,\\
    s_1 \leftarrow 2 v_1 - s_1,\qquad s_2 \leftarrow 2 v_2 - s_2,\qquad
    y = m_0 x + m_1 v_1 + m_2 v_2,

a linear state-space recurrence run on :func:`ddsp_kit.kernels.matrix_recurrence`
(exact with per-sample :math:`g, k`). The mix :math:`(m_0, m_1, m_2)` picks the
response; for constant parameters each kind equals the audio-EQ-cookbook
biquad of :func:`ddsp_kit.functional.biquad_design` (same pre-warped bilinear
transform of the same prototype). Unlike a direct-form or modal biquad, the
states are physical (integrator charges), so modulating the cutoff or the
resonance at audio rate neither pops nor goes unstable: every :math:`g > 0,
k > 0` gives a transition matrix with eigenvalues inside the unit circle.
"""

import math
from typing import Optional

import torch

from ..kernels import matrix_recurrence
from .design import BIQUAD_KINDS, Number, _broadcast, _parameter, _result_dtype, check_sample_rate
from .filtering import _signal

Tensor = torch.Tensor


def _mix(kind: str, g: Tensor, k: Tensor, amp: Tensor):
    """``(g, k, m0, m1, m2)`` of the cookbook response ``kind`` (Simper's table)."""
    zero, one = torch.zeros_like(amp), torch.ones_like(amp)
    if kind == "lowpass":
        return g, k, zero, zero, one
    if kind == "highpass":
        return g, k, one, -k, -one
    if kind == "bandpass":  # 0 dB at the centre, as the cookbook's constant-peak band-pass
        return g, k, zero, k, zero
    if kind == "notch":
        return g, k, one, -k, zero
    if kind == "allpass":
        return g, k, one, -2 * k, zero
    if kind == "peak":
        k = k / amp
        return g, k, one, k * (amp**2 - 1), zero
    if kind == "lowshelf":
        return g / amp.sqrt(), k, one, k * (amp - 1), amp**2 - 1
    return g * amp.sqrt(), k, amp**2, k * (1 - amp) * amp, 1 - amp**2


def svf(
    x: Tensor,
    kind: str,
    frequency: Number,
    q: Number = 1 / math.sqrt(2),
    gain_db: Number = 0.0,
    *,
    sample_rate: float,
    state: Optional[Tensor] = None,
):
    r"""State-variable filter with (per-sample) cut-off, resonance and gain.

    Args:
        x: real signal, ``(..., T)``.
        kind: one of ``BIQUAD_KINDS``.
        frequency: cut-off / centre frequency, Hz, in (0, sample_rate / 2);
            ``(..., T)`` per sample or ``(..., 1)``.
        q: quality factor (resonance), > 0, same layout.
        gain_db: gain of ``peak`` and the shelves, dB, same layout.
        sample_rate: Hz.
        state: integrator states ``(..., 2)`` from a previous block; when
            given, ``(y, final_state)`` is returned.

    Returns:
        ``y`` ``(..., T)``, or ``(y, final_state)``.

    Shape:
        The parameters broadcast against each other and against ``x``.

    Example:
        >>> y = svf(torch.ones(1, 4000), "lowpass", 1000.0, sample_rate=48000)
        >>> round(float(y[0, -1]), 4)  # unit gain at DC
        1.0
    """
    x = _signal(x)
    if kind not in BIQUAD_KINDS:
        raise ValueError(f"kind must be one of {BIQUAD_KINDS}, got {kind!r}")
    sample_rate = check_sample_rate(sample_rate)
    dtype = torch.promote_types(x.dtype, _result_dtype(frequency, q, gain_db))
    frequency, q, gain_db = _broadcast(
        frequency=_parameter("frequency", frequency, 0.0, sample_rate / 2, "Hz"),
        q=_parameter("q", q, 0.0, math.inf, ""),
        gain_db=_parameter("gain_db", gain_db, -math.inf, math.inf, "dB"),
    )
    steps = x.shape[-1]
    for name, value in (("frequency", frequency), ("q", q), ("gain_db", gain_db)):
        if value.dim() and value.shape[-1] not in (1, steps):
            raise ValueError(f"{name} must be (..., T={steps} or 1), got shape {tuple(value.shape)}")
    g, k, m0, m1, m2 = _mix(kind, torch.tan(math.pi * frequency / sample_rate), 1 / q, 10 ** (gain_db / 40))
    a1 = 1 / (1 + g * (g + k))
    a2 = g * a1
    a3 = g * a2
    transition = torch.stack([torch.stack([2 * a1 - 1, -2 * a2], -1), torch.stack([2 * a2, 1 - 2 * a3], -1)], -2)
    coefficients = [c.to(dtype) for c in (a1, a2, a3, m0, m1, m2)]
    a1, a2, a3, m0, m1, m2 = coefficients
    x = x.to(dtype)
    if state is not None:
        state = _signal(state, "state", finite=True)
        if state.shape[-1:] != (2,):
            raise ValueError(f"state must be (..., 2), got shape {tuple(state.shape)}")
    drive = torch.stack([2 * a2 * x, 2 * a3 * x], -1)
    transition = transition.to(dtype)
    if transition.dim() == 2:  # scalar parameters: one matrix for every sample
        transition = transition.unsqueeze(0)
    states = matrix_recurrence(drive, transition, state)
    start = states.new_zeros(1, 2) if state is None else state.to(dtype).unsqueeze(-2)
    start = start.expand(*states.shape[:-2], 1, 2)
    before = torch.cat([start, states[..., :-1, :]], -2)
    s1, s2 = before[..., 0], before[..., 1]
    v1 = a1 * s1 - a2 * s2 + a2 * x
    v2 = a2 * s1 + (1 - a3) * s2 + a3 * x
    y = m0 * x + m1 * v1 + m2 * v2
    return y if state is None else (y, states[..., -1, :])
