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

First-order designs (:func:`one_pole_design`): ``lowpass`` :math:`1/(s+1)` and
``highpass`` :math:`s/(s+1)` through the same pre-warped bilinear transform
(-3 dB exactly at ``frequency``), and ``dcblock``, the classic
:math:`g(1 - z^{-1})/(1 - R z^{-1})` with :math:`R = e^{-2\pi f_c/f_s}` and
:math:`g = (1+R)/2` (unit gain at Nyquist). They come in the same
``[b0, b1, b2, 1, a1, a2]`` layout (``b2 = a2 = 0``).

Parameters may be tensors of any broadcastable shape, including per-sample
``(..., T)`` for time-varying filters (feed the result to
:func:`ddsp_kit.functional.sosfilt_tv`). The result's leading dims are the
parameters' dims: to filter a batch of signals with a batch of designs, add the
section axis (``sosfilt(x, sos.unsqueeze(-2))``), or :func:`sosfilt` reads the
batch as a cascade. Designs are computed in double precision and returned in
the dtype of the tensor arguments (float64 when all are Python numbers); every
design has its poles inside the unit circle for any frequency in (0, Nyquist)
and any ``Q > 0``. Rounded to float32, direct-form coefficients of very low,
sharp filters (a few Hz at high Q) lose that guarantee and their accuracy:
keep such designs in float64 (the filters accept float64 coefficients).
"""

import math
import numbers
from typing import Union

import torch

Tensor = torch.Tensor
Number = Union[float, Tensor]

BIQUAD_KINDS = ("lowpass", "highpass", "bandpass", "notch", "allpass", "peak", "lowshelf", "highshelf")
ONE_POLE_KINDS = ("lowpass", "highpass", "dcblock")


def _parameter(name: str, value: Number, low: float, high: float, unit: str) -> Tensor:
    """A floating tensor checked to lie in the open interval ``(low, high)``."""
    t = value if isinstance(value, Tensor) else torch.as_tensor(value, dtype=torch.float64)
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point value in {unit}, got dtype {t.dtype}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or Inf values")
    outside = (t <= low) | (t >= high)
    if bool(outside.any()):
        low_seen, high_seen = float(t.detach().min()), float(t.detach().max())
        raise ValueError(f"{name} must lie in ({low:g}, {high:g}) {unit}; got values from {low_seen:g} to {high_seen:g}")
    return t


def check_sample_rate(sample_rate) -> float:
    """``sample_rate`` as a float: TypeError unless a real number, ValueError unless positive and finite."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise TypeError(f"sample_rate must be a number of Hz, got {type(sample_rate).__name__} {sample_rate!r}")
    if not 0 < sample_rate < math.inf:
        raise ValueError(f"sample_rate must be a positive, finite number of Hz, got {sample_rate!r}")
    return float(sample_rate)


def _result_dtype(*values) -> torch.dtype:
    """Promoted from the tensor arguments only: Python numbers do not widen the result."""
    dtype = None
    for value in values:
        if isinstance(value, Tensor):
            dtype = value.dtype if dtype is None else torch.promote_types(dtype, value.dtype)
    return torch.float64 if dtype is None else dtype


def _broadcast(**named: Tensor) -> list:
    """The parameters in float64 (designs are computed in double precision), checked to broadcast."""
    try:
        torch.broadcast_shapes(*(t.shape for t in named.values()))
    except RuntimeError:
        listed = ", ".join(f"{name} {tuple(t.shape)}" for name, t in named.items())
        raise ValueError(f"parameter shapes do not broadcast: {listed}") from None
    return [t.to(torch.float64) for t in named.values()]


def _section(b, a) -> Tensor:
    """``[b0, b1, b2, a0, a1, a2]`` terms (broadcastable tensors) as a normalised ``(..., 6)`` section."""
    b0, b1, b2 = b
    a0, a1, a2 = a
    terms = torch.stack(torch.broadcast_tensors(b0, b1, b2, a0, a1, a2), -1)
    return terms / terms[..., 3:4]


def one_pole_design(kind: str, frequency: Number, *, sample_rate: float) -> Tensor:
    r"""First-order section coefficients, in the second-order layout.

    Args:
        kind: one of ``ONE_POLE_KINDS``.
        frequency: cut-off frequency, Hz, in (0, sample_rate / 2).
        sample_rate: Hz, > 0.

    Returns:
        ``[b0, b1, 0, 1, a1, 0]``, shape ``(*frequency.shape, 6)``.

    Example:
        >>> b0, b1, _, _, a1, _ = one_pole_design("lowpass", 1000.0, sample_rate=48000).tolist()
        >>> round((b0 + b1) / (1 + a1), 12)  # unit gain at DC
        1.0
    """
    if kind not in ONE_POLE_KINDS:
        raise ValueError(f"kind must be one of {ONE_POLE_KINDS}, got {kind!r}")
    sample_rate = check_sample_rate(sample_rate)
    dtype = _result_dtype(frequency)
    (frequency,) = _broadcast(frequency=_parameter("frequency", frequency, 0.0, sample_rate / 2, "Hz"))
    zero = torch.zeros_like(frequency)
    if kind == "dcblock":
        radius = torch.exp(-2 * math.pi * frequency / sample_rate)
        gain = (1 + radius) / 2
        return _section((gain, -gain, zero), (zero + 1, -radius, zero)).to(dtype)
    k = torch.tan(math.pi * frequency / sample_rate)
    a = (k + 1, k - 1, zero)
    return _section((k, k, zero) if kind == "lowpass" else (zero + 1, zero - 1, zero), a).to(dtype)


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
        promoted dtype of the tensor arguments (float64 when there are none).

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
    sample_rate = check_sample_rate(sample_rate)
    dtype = _result_dtype(frequency, q, gain_db)
    frequency, q, gain_db = _broadcast(
        frequency=_parameter("frequency", frequency, 0.0, sample_rate / 2, "Hz"),
        q=_parameter("q", q, 0.0, math.inf, ""),
        gain_db=_parameter("gain_db", gain_db, -math.inf, math.inf, "dB"),
    )

    w0 = 2 * math.pi * frequency / sample_rate
    cos_w0 = torch.cos(w0)
    alpha = torch.sin(w0) / (2 * q)
    amp = 10 ** (gain_db / 40)
    one = torch.ones_like(cos_w0 + alpha + amp)  # carries the broadcast shape of all three
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
    return _section(tuple(t * one for t in b), a).to(dtype)
