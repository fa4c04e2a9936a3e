r"""Fractional delay lines and the universal comb, differentiable in the delay time.

A delay of :math:`d = k + f` samples (:math:`k = \lfloor d \rfloor`,
:math:`0 \le f < 1`) reads the past of the signal through an interpolating FIR
filter whose taps sit around :math:`k`:

``linear``
    :math:`y[n] = (1 - f)\,x[n - k] + f\,x[n - k - 1]`, any :math:`d \ge 0`.
``lagrange``
    third-order Lagrange interpolation on the taps :math:`k - 1 \dots k + 2`
    (centred on the fraction, where its error is smallest): flat to a higher
    frequency than linear (its error grows as :math:`\omega^4` instead of
    :math:`\omega^2`). The tap :math:`k - 1` must not lie in the future, so it
    needs :math:`d \ge 1` (``MIN_DELAY``).

Both are FIR in the signal (a stream of blocks equals one pass, with the last
``max_delay + 1`` or ``+ 2`` samples as the state) and their weights are
polynomials in :math:`f`, so the output is differentiable in the delay: the
derivative is the slope of the interpolating polynomial, one-sided at whole
samples where the integer part steps. A first-order all-pass interpolator is
not offered: its recursion remembers the previous fraction, so a modulated
delay leaves transients that differ from the interpolated signal.

:func:`feedback_comb` is Dattorro's universal comb ("Effect Design, Part 2",
JAES 1997): a delay line :math:`w[n] = x[n] + g\,w[n - D]` and the output
:math:`y[n] = b\,w[n] + c\,w[n - D]` (blend :math:`b`, feed-forward :math:`c`).
:math:`b = 1, c = 0` is the feedback comb :math:`y[n] = x[n] + g\,y[n - D]`;
:math:`g = 0` the feed-forward comb; :math:`c = 1, b = -g` an all-pass;
:math:`b = 1 - m, c = m` with a modulated :math:`D` a flanger.

* A whole, constant :math:`D` runs exactly as :math:`D` interleaved first-order
  scans: the samples :math:`n \equiv j \pmod D` form the recurrence
  :math:`w_j[r] = g\,w_j[r - 1] + x_j[r]` on :func:`ddsp_kit.kernels.linear_recurrence`.
* A fractional or time-varying :math:`D` reads :math:`w[n - D]` by linear
  interpolation inside the loop, which couples the phases. It runs exactly in
  chunks of :math:`\lfloor \min D \rfloor` samples: every sample of a chunk reads
  only samples before the chunk, so a chunk is one vectorised step, and the
  loop makes :math:`T / \lfloor \min D \rfloor` steps (short delays cost more).
  Its gradient is the transposed loop run backwards in time (an
  ``autograd.Function``, first derivatives only), so that autograd does not
  record a graph per chunk.

Linear interpolation weights are convex, so :math:`|w[n]| \le \max|x| / (1 - \max|g|)`
for every delay trajectory: the comb is stable by construction for :math:`|g| < 1`.
"""

import math
import numbers
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..kernels import linear_recurrence
from .filtering import _signal

Tensor = torch.Tensor
Value = Union[float, Tensor]

INTERPOLATIONS = ("linear", "lagrange")
# Smallest delay, samples, that reads no future sample.
MIN_DELAY = {"linear": 0, "lagrange": 1}
# Tap delays relative to the integer part of the delay.
_OFFSETS = {"linear": (0, 1), "lagrange": (-1, 0, 1, 2)}


def _count(name: str, value, low: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low} {unit}".rstrip() + f", got {value!r}")
    return int(value)


def _interpolation(interpolation) -> str:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    return interpolation


def _values(
    name: str, value: Value, like: Tensor, low: float = -math.inf, high: float = math.inf, unit: str = "", open_ends: bool = False
) -> Tensor:
    """``value`` as a float tensor ``(..., 1 or T)`` for the signal ``like`` ``(..., T)``, checked finite and
    within ``[low, high]`` (or ``(low, high)``); a number takes the signal's dtype, so it does not widen the result."""
    steps = like.shape[-1]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = torch.tensor([float(value)], dtype=like.dtype, device=like.device)
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a number or a tensor, got {type(value).__name__}")
    t = value
    if t.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name} must be float32 or float64, got {t.dtype}")
    if t.dim() == 0:
        t = t.reshape(1)
    if t.shape[-1] not in (1, steps):
        raise ValueError(f"{name} must be (..., {steps} samples or 1), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or Inf values")
    seen = t.detach()
    below = seen <= low if open_ends else seen < low
    above = seen >= high if open_ends else seen > high
    if bool((below | above).any()):
        ends = f"({low:g}, {high:g})" if open_ends else f"[{low:g}, {high:g}]"
        raise ValueError(f"{name} must lie in {ends} {unit}".rstrip() + f", got values from {float(seen.min()):g} to {float(seen.max()):g}")
    return t


def _batch(**shapes) -> torch.Size:
    try:
        return torch.broadcast_shapes(*shapes.values())
    except RuntimeError:
        listed = ", ".join(f"{name} {tuple(shape)}" for name, shape in shapes.items())
        raise ValueError(f"batch dims do not broadcast: {listed}") from None


def _history(history: Optional[Tensor], length: int, like: Tensor) -> Tensor:
    if history is None:
        return like.new_zeros(length)
    history = _signal(history, "history", finite=True)
    if history.shape[-1] != length:
        raise ValueError(f"history must hold the last {length} samples of the line, (..., {length}), got shape {tuple(history.shape)}")
    return history


def _weights(fraction: Tensor, interpolation: str) -> Tensor:
    """Interpolation weights ``(..., taps)`` of the taps ``_OFFSETS[interpolation]`` for the fraction ``f``."""
    f = fraction
    if interpolation == "linear":
        return torch.stack([1 - f, f], -1)
    # Lagrange basis polynomials on the nodes -1, 0, 1, 2, evaluated at f.
    return torch.stack(
        [-f * (f - 1) * (f - 2) / 6, (f + 1) * (f - 1) * (f - 2) / 2, -(f + 1) * f * (f - 2) / 2, (f + 1) * f * (f - 1) / 6], -1
    )


def _tap_index(base: Tensor, whole: Tensor, interpolation: str, batch) -> Tensor:
    """Line positions ``(*batch, T, taps)`` of the taps of sample ``n``, whose own position is ``base[n]``."""
    offsets = torch.tensor(_OFFSETS[interpolation], device=base.device)
    index = (base - whole.long()).unsqueeze(-1) - offsets
    return index.expand(*batch, *index.shape[-2:])


def _read(line: Tensor, index: Tensor, weights: Tensor) -> Tensor:
    """Interpolated reads: the taps of ``line`` at ``index`` ``(..., T, taps)`` weighted by ``weights``."""
    taps = line.gather(-1, index.flatten(-2)).unflatten(-1, index.shape[-2:])
    return (taps * weights).sum(-1)


def fractional_delay(
    x: Tensor, delay: Value, *, max_delay: int, interpolation: str = "linear", history: Optional[Tensor] = None
) -> Tuple[Tensor, Tensor]:
    r"""Delay by a fractional, possibly per-sample, number of samples, streaming.

    A whole delay is exact (the interpolation weights are ``1`` on one tap);
    a modulated delay (vibrato, chorus) is a per-sample ``delay``.

    Args:
        x: real signal, ``(..., T)``.
        delay: samples, in ``[MIN_DELAY[interpolation], max_delay]``; a number,
            ``(..., 1)`` or per sample ``(..., T)``.
        max_delay: largest delay, an int of samples (sets the line's length).
        interpolation: one of ``INTERPOLATIONS`` (see the module docstring).
        history: the line's last ``max_delay + 1`` (linear) or ``+ 2``
            (lagrange) samples from the previous block; zeros if None.

    Returns:
        ``(y, history)``: the delayed signal ``(*batch, T)`` and the line's
        last samples, to pass with the next block.

    Shape:
        ``batch`` is the broadcast of the leading dims of ``x``, ``delay`` and ``history``.

    Example:
        >>> y, _ = fractional_delay(torch.tensor([0.0, 2.0, 4.0, 6.0]), 1.25, max_delay=4)
        >>> y
        tensor([0.0000, 0.0000, 1.5000, 3.5000])
    """
    x = _signal(x)
    interpolation = _interpolation(interpolation)
    max_delay = _count("max_delay", max_delay, MIN_DELAY[interpolation], "samples")
    steps = x.shape[-1]
    delay = _values("delay", delay, x, MIN_DELAY[interpolation], max_delay, "samples")
    length = max_delay + _OFFSETS[interpolation][-1]
    history = _history(history, length, x)
    batch = _batch(x=x.shape[:-1], delay=delay.shape[:-1], history=history.shape[:-1])
    dtype = torch.promote_types(x.dtype, delay.dtype)
    line = torch.cat([history.to(dtype).expand(*batch, length), x.to(dtype).expand(*batch, steps)], -1)
    whole = delay.detach().floor()
    base = length + torch.arange(steps, device=x.device)
    y = _read(line, _tap_index(base, whole, interpolation, batch), _weights(delay.to(dtype) - whole, interpolation))
    return y, line[..., steps:]


def _whole_delay(delay) -> Optional[int]:
    """The lag when ``delay`` is one whole number of samples needing no gradient, else None."""
    if isinstance(delay, Tensor):
        if delay.requires_grad or delay.numel() == 0:
            return None
        first = float(delay.reshape(-1)[0])
        if not bool((delay == first).all()):
            return None
    elif isinstance(delay, numbers.Real) and not isinstance(delay, bool):
        first = float(delay)
    else:
        return None
    return int(first) if math.isfinite(first) and first.is_integer() else None


def _interleaved_scan(x: Tensor, lag: int, feedback: Tensor, initial: Tensor) -> Tensor:
    r""":math:`w[n] = x[n] + g[n]\,w[n - lag]` as ``lag`` first-order scans, one per phase ``n mod lag``."""
    steps = x.shape[-1]
    rows = -(-steps // lag)

    def phases(t):  # (..., T) -> (..., lag, rows); the padding lands after the last sample and is dropped
        return F.pad(t, (0, rows * lag - steps)).unflatten(-1, (rows, lag)).transpose(-1, -2)

    coefficient = phases(feedback) if feedback.shape[-1] == steps else feedback.unsqueeze(-1)
    w = linear_recurrence(phases(x), coefficient, initial)
    return w.transpose(-1, -2).flatten(-2)[..., :steps]


class _ChunkedLoop(torch.autograd.Function):
    r"""The line :math:`[h, w]` with :math:`w[n] = x[n] + \sum_j c_j[n]\,\mathrm{line}[i_j[n]]`, every
    :math:`i_j[n]` before the chunk of ``chunk`` samples that holds :math:`n`.

    Forward fills the line chunk by chunk in place. The adjoint is the same
    loop transposed and run backwards: :math:`\lambda[m] = \bar{g}[m] + \sum
    c_j[n]\,\lambda[n]` over the later :math:`n` that read :math:`m`, so once
    the later chunks have scattered into it, a chunk's :math:`\lambda` is final.
    """

    @staticmethod
    def forward(ctx, x, coefficients, history, index, chunk):
        length, steps = history.shape[-1], x.shape[-1]
        line = torch.cat([history, torch.empty_like(x)], -1)
        for start in range(0, steps, chunk):
            stop = min(start + chunk, steps)
            feedback = _read(line, index[..., start:stop, :], coefficients[..., start:stop, :])
            line[..., length + start : length + stop] = x[..., start:stop] + feedback
        ctx.save_for_backward(coefficients, index, line)
        ctx.chunk = chunk
        return line

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_line):
        coefficients, index, line = ctx.saved_tensors
        steps = index.shape[-2]
        length = line.shape[-1] - steps
        adjoint = grad_line.clone()
        for start in reversed(range(0, steps, ctx.chunk)):
            stop = min(start + ctx.chunk, steps)
            spread = adjoint[..., length + start : length + stop].unsqueeze(-1) * coefficients[..., start:stop, :]
            adjoint.scatter_add_(-1, index[..., start:stop, :].flatten(-2), spread.flatten(-2))
        grad_x = adjoint[..., length:]
        taps = line.gather(-1, index.flatten(-2)).unflatten(-1, index.shape[-2:])
        return grad_x, grad_x.unsqueeze(-1) * taps, adjoint[..., :length], None, None


def _chunked_loop(x: Tensor, delay: Tensor, feedback: Tensor, history: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The line :math:`[h, w]` with :math:`w[n] = x[n] + g[n]\,w[n - d[n]]` (linear interpolation), in chunks
    of :math:`\lfloor \min d \rfloor` samples; also the taps' line positions and weights, to read :math:`w[n - d[n]]`."""
    steps, length = x.shape[-1], history.shape[-1]
    whole = delay.detach().floor()
    chunk = int(whole.min())  # >= 1: every read of a chunk lies before it
    weights = _weights(delay - whole, "linear")
    index = _tap_index(length + torch.arange(steps, device=x.device), whole, "linear", x.shape[:-1]).contiguous()
    coefficients = (feedback.unsqueeze(-1) * weights).expand(*x.shape, 2).contiguous()
    return _ChunkedLoop.apply(x, coefficients, history, index, chunk), index, weights


def feedback_comb(
    x: Tensor,
    delay: Union[int, Value],
    feedback: Value,
    *,
    max_delay: int,
    blend: Value = 1.0,
    feedforward: Value = 0.0,
    history: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    r"""Universal comb :math:`w[n] = x[n] + g\,w[n - D]`, :math:`y[n] = b\,w[n] + c\,w[n - D]`.

    With the defaults ``blend = 1, feedforward = 0`` it is the feedback comb
    :math:`y[n] = x[n] + g\,y[n - D]`. A ``delay`` of one whole number of
    samples that needs no gradient (an int, a number or a tensor) runs the
    exact interleaved scan; any other (fractional, per-sample, learnable) delay
    runs the exact chunked loop with linear interpolation, whose gradient is
    first-order only (module docstring).

    Args:
        x: real signal, ``(..., T)``.
        delay: :math:`D`, samples in ``[1, max_delay]``; an int, a number,
            ``(..., 1)`` or per sample ``(..., T)``.
        feedback: :math:`g`, in (-1, 1); a number, ``(..., 1)`` or ``(..., T)``.
        max_delay: largest delay, an int of samples >= 1.
        blend: :math:`b`, gain of the line's input, same layout.
        feedforward: :math:`c`, gain of the line's output, same layout.
        history: the line's last ``max_delay + 1`` samples of :math:`w` from
            the previous block; zeros if None.

    Returns:
        ``(y, history)``.

    Shape:
        ``batch`` is the broadcast of the leading dims of every argument.

    Example:
        >>> impulse = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        >>> feedback_comb(impulse, 3, 0.5, max_delay=3)[0]
        tensor([1.0000, 0.0000, 0.0000, 0.5000, 0.0000, 0.0000, 0.2500])
    """
    x = _signal(x)
    max_delay = _count("max_delay", max_delay, 1, "samples")
    steps = x.shape[-1]
    lag = _whole_delay(delay)
    if lag is None:
        delay = _values("delay", delay, x, 1, max_delay, "samples")
    elif not 1 <= lag <= max_delay:
        raise ValueError(f"delay must lie in [1, {max_delay}] samples (the loop needs at least one), got {lag}")
    feedback = _values("feedback", feedback, x, -1.0, 1.0, open_ends=True)
    blend = _values("blend", blend, x)
    feedforward = _values("feedforward", feedforward, x)
    length = max_delay + 1
    history = _history(history, length, x)
    parameters = {"feedback": feedback, "blend": blend, "feedforward": feedforward}
    if lag is None:
        parameters["delay"] = delay
    batch = _batch(x=x.shape[:-1], history=history.shape[:-1], **{name: p.shape[:-1] for name, p in parameters.items()})
    dtype = x.dtype
    for p in parameters.values():
        dtype = torch.promote_types(dtype, p.dtype)
    x = x.to(dtype).expand(*batch, steps)
    history = history.to(dtype).expand(*batch, length)
    feedback = feedback.to(dtype)
    if lag is not None:
        line = torch.cat([history, _interleaved_scan(x, lag, feedback, history[..., length - lag :])], -1)
        tap = line[..., length - lag : length - lag + steps]
    else:
        line, index, weights = _chunked_loop(x, delay.to(dtype), feedback, history)
        tap = _read(line, index, weights)
    return blend * line[..., length:] + feedforward * tap, line[..., steps:]
