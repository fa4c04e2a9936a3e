r"""Constant lag and polarity between an input recording and its target.

Both come from the cross-correlation

.. math:: r[k] = \sum_c \sum_n y_c[n + k]\, x_c[n], \qquad |k| \le K,

of the input :math:`x` and target :math:`y` (summed over channels), computed by
FFT with enough zero padding that it is linear, not circular. The lag is the
:math:`k` of largest :math:`|r[k]|` (so an inverted target still aligns), positive
when the target is late; the polarity is the sign of :math:`r` at that lag.
"""

import torch

__all__ = ["estimate_lag", "check_polarity"]


def _cross_correlation(input: torch.Tensor, target: torch.Tensor, max_lag: int) -> torch.Tensor:
    """:math:`r[k]` for ``k = -max_lag .. max_lag`` (float64, shape ``(2 max_lag + 1,)``)."""
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or max_lag < 0:
        raise ValueError(f"max_lag must be a non-negative whole number of samples, got {max_lag!r}")
    if input.shape[:-1] != target.shape[:-1]:
        raise ValueError(f"input {tuple(input.shape)} and target {tuple(target.shape)} differ in their leading dims")
    if input.shape[-1] == 0 or target.shape[-1] == 0:
        raise ValueError("input and target must hold at least one sample")
    x = input.detach().to(torch.float64).reshape(-1, input.shape[-1])
    y = target.detach().to(torch.float64).reshape(-1, target.shape[-1])
    n_fft = 1 << (x.shape[-1] + y.shape[-1] - 1).bit_length()
    spectrum = (torch.fft.rfft(y, n_fft) * torch.fft.rfft(x, n_fft).conj()).sum(0)
    r = torch.fft.irfft(spectrum, n_fft)  # r[k] at index k mod n_fft
    positive = r[: min(max_lag, y.shape[-1] - 1) + 1]
    negative = r[n_fft - min(max_lag, x.shape[-1] - 1) :] if max_lag else r[:0]
    full = torch.zeros(2 * max_lag + 1, dtype=torch.float64)
    full[max_lag : max_lag + positive.shape[0]] = positive
    full[max_lag - negative.shape[0] : max_lag] = negative
    return full


def _best_lag(r: torch.Tensor, max_lag: int) -> int:
    """Lag of largest ``|r|``; ties go to the smallest ``|lag|``."""
    order = torch.arange(-max_lag, max_lag + 1).abs().argsort(stable=True)
    return int(order[r[order].abs().argmax()]) - max_lag


def estimate_lag(input: torch.Tensor, target: torch.Tensor, max_lag: int) -> int:
    """The constant lag of ``target`` behind ``input``, by FFT cross-correlation.

    Args:
        input: the dry signal.
        target: the processed signal (may be longer or shorter than ``input``).
        max_lag: the largest lag searched, in samples (both signs).

    Returns:
        the lag in samples: positive when the target is late (``target[n + lag]``
        matches ``input[n]``), 0 for silent signals.

    Shape:
        - input: ``(..., T_in)``; target: ``(..., T_tgt)`` with the same leading
          dims (channels are summed into one correlation).

    >>> x = torch.randn(1, 1000, generator=torch.Generator().manual_seed(0))
    >>> estimate_lag(x, torch.roll(x, 7, -1), max_lag=20)
    7
    """
    return _best_lag(_cross_correlation(input, target, max_lag), max_lag)


def check_polarity(input: torch.Tensor, target: torch.Tensor, max_lag: int = 0) -> int:
    """The polarity of ``target`` relative to ``input``: the sign of their correlation at the best lag.

    Args:
        input: the dry signal.
        target: the processed signal.
        max_lag: the largest lag searched, in samples (0: the zero-lag correlation).

    Returns:
        ``1`` (in phase, or no correlation at all) or ``-1`` (inverted).

    Shape:
        - input: ``(..., T_in)``; target: ``(..., T_tgt)`` with the same leading dims.

    >>> x = torch.randn(2, 500, generator=torch.Generator().manual_seed(0))
    >>> check_polarity(x, -0.5 * x), check_polarity(x, x)
    (-1, 1)
    """
    r = _cross_correlation(input, target, max_lag)
    return -1 if float(r[_best_lag(r, max_lag) + max_lag]) < 0 else 1
