"""Compiled CPU backend: sequential recurrences, parallel over rows (numba).

A recurrence is inherently sequential in time, so on a CPU the fastest exact
method is a tight compiled loop per signal, with the independent signals
(batch x channels) spread over the cores. State is accumulated in double
precision (float64 / complex128) whatever the storage dtype: it costs nothing
in a latency-bound loop and keeps float32 filters with poles near the unit
circle accurate.

The compiled loops take row-major arrays: ``x`` is ``(rows, T)`` and the
coefficients are stored once per distinct coefficient row, with ``a_row``
mapping each signal row to its coefficient row, so coefficients broadcast over
batch and time are never materialised.
"""

import math

import numba
import numpy as np
import torch

_JIT = dict(nopython=True, nogil=True, cache=True, parallel=True)


@numba.jit(**_JIT)
def _scan_rows(x, a, a_row, h0, acc, out):  # pragma: no cover - compiled
    rows, steps = x.shape
    varying = a.shape[1] != 1
    for r in numba.prange(rows):
        ar = a_row[r]
        h = acc[0] + h0[r]
        if varying:
            for t in range(steps):
                h = a[ar, t] * h + x[r, t]
                out[r, t] = h
        else:
            c = acc[0] + a[ar, 0]
            for t in range(steps):
                h = c * h + x[r, t]
                out[r, t] = h


@numba.jit(**_JIT)
def _allpole_rows(x, a, a_row, zi, acc, out):  # pragma: no cover - compiled
    rows, steps = x.shape
    order = a.shape[2]
    varying = a.shape[1] != 1
    for r in numba.prange(rows):
        ar = a_row[r]
        # Circular history stored twice so that a window never wraps:
        # hist[pos + k] = hist[pos + k + order] = y[t - 1 - k].
        hist = np.empty(2 * order, dtype=acc.dtype)
        for k in range(order):
            hist[k] = zi[r, k]
            hist[k + order] = zi[r, k]
        pos = 0
        for t in range(steps):
            ta = t if varying else 0
            y = acc[0] + x[r, t]
            for k in range(order):
                y -= a[ar, ta, k] * hist[pos + k]
            pos = pos - 1 if pos > 0 else order - 1
            hist[pos] = y
            hist[pos + order] = y
            out[r, t] = y


def _accumulator(dtype: torch.dtype) -> np.ndarray:
    return np.zeros(1, dtype=np.complex128 if dtype.is_complex else np.float64)


def _rows(t: torch.Tensor, shape, width: int = -1) -> np.ndarray:
    """``t`` expanded to ``shape``, made contiguous and reshaped to ``(-1, width)``."""
    t = t.detach().resolve_conj().expand(shape).contiguous()
    return (t.reshape(-1) if width == -1 else t.reshape(-1, width)).numpy()


def _coefficient_rows(a: torch.Tensor, batch, trailing: int):
    """``a`` stored once per distinct batch row, and the row each signal row uses."""
    lead = a.shape[: a.dim() - trailing]
    rows = torch.arange(math.prod(lead)).reshape(lead).expand(batch).reshape(-1)
    stored = a.detach().resolve_conj().contiguous().reshape(-1, *a.shape[a.dim() - trailing:])
    return stored.numpy(), rows.numpy()


def scan(x: torch.Tensor, a: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """``h[t] = a[t] h[t-1] + x[t]`` on ``x`` ``(*batch, T)``; ``a`` is
    ``(*batch_a, 1 or T)`` with ``batch_a`` broadcastable to ``batch``; ``h0`` is ``batch``."""
    out = torch.empty_like(x)
    _scan_rows(
        _rows(x, x.shape, x.shape[-1]),
        *_coefficient_rows(a, x.shape[:-1], 1),
        _rows(h0, x.shape[:-1]),
        _accumulator(x.dtype),
        out.view(-1, x.shape[-1]).numpy(),
    )
    return out


def allpole(x: torch.Tensor, a: torch.Tensor, zi: torch.Tensor) -> torch.Tensor:
    """``y[t] = x[t] - sum_k a[t, k] y[t-1-k]`` on ``x`` ``(*batch, T)``; ``a`` is
    ``(*batch_a, 1 or T, order)``; ``zi`` is ``(*batch, order)`` = ``y[-1], ..., y[-order]``."""
    out = torch.empty_like(x)
    order = a.shape[-1]
    _allpole_rows(
        _rows(x, x.shape, x.shape[-1]),
        *_coefficient_rows(a, x.shape[:-1], 2),
        _rows(zi, (*x.shape[:-1], order), order),
        _accumulator(x.dtype),
        out.view(-1, x.shape[-1]).numpy(),
    )
    return out
