r"""Causal FIR filtering: direct convolution for short filters, FFT for long ones.

.. math::
    y[t] = \sum_{k=0}^{M-1} h[k]\, x[t - k]

The last ``M - 1`` input samples are the state, so a stream of blocks equals
one pass. Above ``FFT_THRESHOLD`` taps the convolution runs as a product of
real FFTs (``O((T + M) log(T + M))`` instead of ``O(T M)``), exact up to
floating-point rounding.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .filtering import _check_batch, _coefficients, _signal

Tensor = torch.Tensor

FFT_THRESHOLD = 64


def _fft_convolve(signal: Tensor, taps: Tensor, steps: int) -> Tensor:
    """The last ``steps`` samples of the full linear convolution, by real FFTs."""
    size = signal.shape[-1] + taps.shape[-1] - 1
    n = 1 << (size - 1).bit_length()
    spectrum = torch.fft.rfft(signal, n) * torch.fft.rfft(taps, n)
    full = torch.fft.irfft(spectrum, n)[..., :size]
    return full[..., signal.shape[-1] - steps : signal.shape[-1]]


def fir_filter(x: Tensor, taps: Tensor, state: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Causal FIR filter with a streaming state.

    Args:
        x: real signal, ``(..., T)``.
        taps: impulse response ``h``, ``(..., M)``; leading dims broadcast
            against ``x`` (e.g. ``(channels, M)`` for one filter per channel).
        state: the previous ``M - 1`` input samples, ``(..., M - 1)``; zeros if None.

    Returns:
        ``(y, state)``: ``y`` ``(*batch, T)`` and the last ``M - 1`` inputs.

    Shape:
        ``batch`` is the broadcast of the leading dims of ``x``, ``taps`` and ``state``.

    Example:
        >>> fir_filter(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, -1.0]))[0]
        tensor([1., 1., 1.])
    """
    x = _signal(x)
    taps = _coefficients("taps", taps)
    history = taps.shape[-1] - 1
    if state is None:
        state = x.new_zeros(history)
    state = _signal(state, "state", finite=True) if history else state
    if state.shape[-1:] != (history,):
        raise ValueError(f"state must hold the last M - 1 = {history} inputs, got shape {tuple(state.shape)}")
    _check_batch(x=x.shape[:-1], taps=taps.shape[:-1], state=state.shape[:-1])
    batch = torch.broadcast_shapes(x.shape[:-1], taps.shape[:-1], state.shape[:-1])
    dtype = torch.promote_types(x.dtype, taps.dtype)
    steps = x.shape[-1]
    signal = torch.cat([state.to(dtype).expand(*batch, history), x.to(dtype).expand(*batch, steps)], -1)
    taps = taps.to(dtype)
    if taps.shape[-1] > FFT_THRESHOLD:
        y = _fft_convolve(signal, taps, steps)
    else:
        # One grouped convolution: every (batch) row is its own channel with its own filter.
        rows = signal.reshape(1, -1, signal.shape[-1])
        weight = taps.expand(*batch, taps.shape[-1]).reshape(-1, 1, taps.shape[-1]).flip(-1)
        y = F.conv1d(rows, weight, groups=rows.shape[1]).reshape(*batch, steps)
    return y, signal[..., signal.shape[-1] - history :]
