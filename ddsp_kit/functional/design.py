r"""Filter design from physical parameters (Hz, Q, dB), differentiable.

The second-order designs follow Robert Bristow-Johnson's "Cookbook formulae for
audio EQ biquad filter coefficients": each is the bilinear transform of an
analog prototype :math:`H(s)` whose centre frequency is pre-warped so that the
digital filter hits ``frequency`` exactly. With :math:`\omega_0 = 2\pi f_0/f_s`,
:math:`\alpha = \sin\omega_0 / (2Q)` and :math:`A = 10^{g/40}`:

=========  =========================================================
kind       analog prototype :math:`H(s)` (:math:`s` normalised to :math:`\omega_0`)
=========  =========================================================
lowpass    :math:`1 / (s^2 + s/Q + 1)`
highpass   :math:`s^2 / (s^2 + s/Q + 1)`
bandpass   :math:`(s/Q) / (s^2 + s/Q + 1)` (0 dB at the centre)
notch      :math:`(s^2 + 1) / (s^2 + s/Q + 1)`
allpass    :math:`(s^2 - s/Q + 1) / (s^2 + s/Q + 1)`
peak       :math:`(s^2 + s A/Q + 1) / (s^2 + s/(A Q) + 1)`
lowshelf   :math:`A (s^2 + \sqrt{A} s/Q + A) / (A s^2 + \sqrt{A} s/Q + 1)`
highshelf  :math:`A (A s^2 + \sqrt{A} s/Q + 1) / (s^2 + \sqrt{A} s/Q + A)`
=========  =========================================================

Parameters may be tensors of any broadcastable shape, including per-sample
``(..., T)`` for time-varying filters (feed the result to
:func:`ddsp_kit.functional.sosfilt_tv`). Every design keeps its poles inside
the unit circle for any frequency in (0, Nyquist) and any ``Q > 0``.
"""

import math
from typing import Union

import torch

Tensor = torch.Tensor
Number = Union[float, Tensor]

BIQUAD_KINDS = ("lowpass", "highpass", "bandpass", "notch", "allpass", "peak", "lowshelf", "highshelf")


def _parameter(name: str, value: Number, low: float, high: float, unit: str) -> Tensor:
    """A floating tensor checked to lie in the open interval ``(low, high)``."""
    t = value if isinstance(value, Tensor) else torch.as_tensor(value, dtype=torch.float64)
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point value in {unit}, got dtype {t.dtype}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or Inf values")
    outside = (t <= low) | (t >= high)
    if bool(outside.any()):
        raise ValueError(
            f"{name} must lie in ({low:g}, {high:g}) {unit}; got values from {float(t.min()):g} to {float(t.max()):g}"
        )
    return t


def biquad_design(
    kind: str,
    frequency: Number,
    q: Number = 1 / math.sqrt(2),
    gain_db: Number = 0.0,
    *,
    sample_rate: float,
) -> Tensor:
    r"""Second-order section coefficients for an audio-EQ filter.

    Args:
        kind: one of ``BIQUAD_KINDS``.
        frequency: cut-off / centre / shelf mid-point frequency, Hz, in
            (0, sample_rate / 2).
        q: quality factor, > 0 (for shelves it sets the slope; 0.7071 is the
            steepest shelf without overshoot).
        gain_db: gain of ``peak`` and the shelves, dB (ignored by the others).
        sample_rate: Hz, > 0.

    Returns:
        ``[b0, b1, b2, 1, a1, a2]`` with shape ``(*broadcast, 6)``, in the
        promoted dtype of the tensor arguments (float64 for plain numbers).

    Shape:
        ``frequency``, ``q`` and ``gain_db`` broadcast against each other; a
        trailing time axis gives per-sample coefficients.

    Example:
        >>> sos = biquad_design("peak", 1000.0, q=2.0, gain_db=6.0, sample_rate=48000)
        >>> sos.shape
        torch.Size([6])
    """
    if kind not in BIQUAD_KINDS:
        raise ValueError(f"kind must be one of {BIQUAD_KINDS}, got {kind!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not sample_rate > 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}")
    frequency = _parameter("frequency", frequency, 0.0, sample_rate / 2, "Hz")
    q = _parameter("q", q, 0.0, math.inf, "")
    gain_db = _parameter("gain_db", gain_db, -math.inf, math.inf, "dB")
    dtype = torch.promote_types(torch.promote_types(frequency.dtype, q.dtype), gain_db.dtype)
    frequency, q, gain_db = (t.to(dtype) for t in (frequency, q, gain_db))

    w0 = 2 * math.pi * frequency / sample_rate
    cos_w0 = torch.cos(w0)
    alpha = torch.sin(w0) / (2 * q)
    amp = 10 ** (gain_db / 40)
    one = torch.ones_like(cos_w0 + alpha + amp)
    if kind == "lowpass":
        b = ((1 - cos_w0) / 2, 1 - cos_w0, (1 - cos_w0) / 2)
        a = (1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "highpass":
        b = ((1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2)
        a = (1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "bandpass":
        b = (alpha, 0 * alpha, -alpha)
        a = (1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "notch":
        b = (one, -2 * cos_w0, one)
        a = (1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "allpass":
        b = (1 - alpha, -2 * cos_w0, 1 + alpha)
        a = (1 + alpha, -2 * cos_w0, 1 - alpha)
    elif kind == "peak":
        b = (1 + alpha * amp, -2 * cos_w0, 1 - alpha * amp)
        a = (1 + alpha / amp, -2 * cos_w0, 1 - alpha / amp)
    else:
        shelf = 2 * torch.sqrt(amp) * alpha
        sign = 1 if kind == "lowshelf" else -1
        b = (
            amp * ((amp + 1) - sign * (amp - 1) * cos_w0 + shelf),
            sign * 2 * amp * ((amp - 1) - sign * (amp + 1) * cos_w0),
            amp * ((amp + 1) - sign * (amp - 1) * cos_w0 - shelf),
        )
        a = (
            (amp + 1) + sign * (amp - 1) * cos_w0 + shelf,
            -sign * 2 * ((amp - 1) + sign * (amp + 1) * cos_w0),
            (amp + 1) + sign * (amp - 1) * cos_w0 - shelf,
        )
    b = torch.stack(torch.broadcast_tensors(*b, one), -1)[..., :3]
    a = torch.stack(torch.broadcast_tensors(*a, one), -1)[..., :3]
    return torch.cat([b, a], -1) / a[..., :1]
