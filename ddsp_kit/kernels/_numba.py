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

# Outputs are allocated with torch.empty(shape): always contiguous, whatever
# the strides of the inputs (empty_like would copy a transposed layout).
_JIT = dict(nopython=True, nogil=True, cache=True, parallel=True)


@numba.jit(**_JIT)
def _scan_rows(x, a, a_row, h0, acc, adjoint, out):  # pragma: no cover - compiled
    rows, steps = x.shape
    varying = a.shape[1] != 1
    for r in numba.prange(rows):
        ar = a_row[r]
        if adjoint:
            # h[t] = conj(a[t+1]) h[t+1] + x[t], backwards from h[T-1] = x[T-1].
            h = acc[0] + x[r, steps - 1]
            out[r, steps - 1] = h
            c = np.conj(acc[0] + a[ar, 0])
            for t in range(steps - 2, -1, -1):
                if varying:
                    c = np.conj(acc[0] + a[ar, t + 1])
                h = c * h + x[r, t]
                out[r, t] = h
        else:
            h = acc[0] + h0[r]
            c = acc[0] + a[ar, 0]
            for t in range(steps):
                if varying:
                    c = a[ar, t]
                h = c * h + x[r, t]
                out[r, t] = h


@numba.jit(**_JIT)
def _allpole_rows(x, a, a_row, zi, acc, adjoint, out):  # pragma: no cover - compiled
    rows, steps = x.shape
    order = a.shape[2]
    varying = a.shape[1] != 1
    for r in numba.prange(rows):
        coef = a[a_row[r]]
        xr = x[r]
        row_out = out[r]
        # Circular history stored twice so that a window never wraps:
        # hist[pos + k] = hist[pos + k + order] = y[t - 1 - k] (y[t + 1 + k] in adjoint mode).
        hist = np.zeros(2 * order, dtype=acc.dtype)
        if not adjoint:
            for k in range(order):
                hist[k] = zi[r, k]
                hist[k + order] = zi[r, k]
        pos = 0
        for i in range(steps):
            y = acc[0] + xr[steps - 1 - i if adjoint else i]
            if adjoint:  # y[t] = x[t] - sum_k a_k[t+k] y[t+k]
                t = steps - 1 - i
                for k in range(min(order, i)):
                    y -= coef[t + 1 + k if varying else 0, k] * hist[pos + k]
            else:  # y[t] = x[t] - sum_k a_k[t] y[t-k]
                t = i
                c = coef[t if varying else 0]
                for k in range(order):
                    y -= c[k] * hist[pos + k]
            pos = pos - 1 if pos > 0 else order - 1
            hist[pos] = y
            hist[pos + order] = y
            row_out[t] = y


@numba.njit(inline="always")
def _fir_sample(c, x, t, steps, sign):  # pragma: no cover - compiled
    v = 0.0
    for k in range(c.shape[0]):  # over past samples (future ones when running backwards)
        j = t - sign * k
        if 0 <= j < steps:
            v += c[k] * x[j]
    return v


@numba.jit(**_JIT)
def _modal_rows(x, b, b_row, sections, s_row, reverse, out):  # pragma: no cover - compiled
    # One pass per section of two one-poles, with scalar states so that they
    # stay in registers. Between sections the signal is kept in complex128, so
    # the cascade is exact whatever the order of the poles. A numerator of
    # three taps keeps its history in registers too (twice as fast as a loop
    # over the taps reading memory), and the loop-invariant tests are hoisted.
    rows, steps = x.shape
    count = sections.shape[1]
    sign = -1 if reverse else 1
    for r in numba.prange(rows):
        c = b[b_row[r]]
        short = c.shape[0] == 3
        xr = x[r]
        row_out = out[r]
        buffer = np.empty(steps if count > 1 else 0, dtype=np.complex128)
        for s in range(count):
            p1 = sections[s_row[r], s, 0]
            p2 = sections[s_row[r], s, 1]
            first, last = s == 0, s == count - 1
            h1 = 0j
            h2 = 0j
            x1 = 0.0
            x2 = 0.0
            for i in range(steps):
                t = steps - 1 - i if reverse else i
                if not first:
                    v = buffer[t]
                elif short:
                    xt = xr[t]
                    v = c[0] * xt + c[1] * x1 + c[2] * x2 + 0j
                    x2 = x1
                    x1 = xt
                else:
                    v = _fir_sample(c, xr, t, steps, sign) + 0j
                h1 = p1 * h1 + v
                h2 = p2 * h2 + h1
                if last:
                    row_out[t] = h2.real
                else:
                    buffer[t] = h2


@numba.jit(**_JIT)
def _section_rows(v, p1, p1_row, p2, p2_row, conj2, s, y, h1, h2):  # pragma: no cover - compiled
    # conj2: p2 holds the conjugates of the second poles (read lazily, no copy).
    rows, steps = v.shape
    vary1, vary2 = p1.shape[1] != 1, p2.shape[1] != 1
    for r in numba.prange(rows):
        a1, a2 = p1[p1_row[r]], p2[p2_row[r]]
        c1, c2 = a1[0] + 0j, a2[0] + 0j
        if conj2:
            c2 = np.conj(c2)
        g1, g2 = s[r, 0] + 0j, s[r, 1] + 0j  # complex128 state
        for t in range(steps):
            if vary1:
                c1 = a1[t]
            if vary2:
                c2 = np.conj(a2[t]) if conj2 else a2[t]
            g1 = c1 * g1 + v[r, t]
            g2 = c2 * g2 + g1
            h1[r, t] = g1
            h2[r, t] = g2
            y[r, t] = g2.real


@numba.jit(**_JIT)
def _section_adjoint_rows(g, end, p1, p1_row, p2, p2_row, conj2, s, h1, h2, gv, gp1, gp2, gs):  # pragma: no cover
    # lam2[t] = g[t] + conj(p2[t+1]) lam2[t+1], lam1[t] = lam2[t] + conj(p1[t+1]) lam1[t+1],
    # seeded at T-1 by the cotangents of the final states.
    rows, steps = g.shape
    vary1, vary2 = p1.shape[1] != 1, p2.shape[1] != 1
    for r in numba.prange(rows):
        a1, a2 = p1[p1_row[r]], p2[p2_row[r]]
        l1, l2 = end[r, 0] + 0j, end[r, 1] + 0j
        n1, n2 = 1.0 + 0j, 1.0 + 0j
        for t in range(steps - 1, -1, -1):
            l2 = g[r, t] + n2 * l2
            l1 = l2 + n1 * l1
            gv[r, t] = l1.real
            if t > 0:
                gp1[r, t] = l1 * np.conj(h1[r, t - 1])
                gp2[r, t] = l2 * np.conj(h2[r, t - 1])
            else:
                gp1[r, t] = l1 * np.conj(s[r, 0])
                gp2[r, t] = l2 * np.conj(s[r, 1])
            n1 = np.conj(a1[t if vary1 else 0])
            n2 = a2[t if vary2 else 0] + 0j
            if not conj2:
                n2 = np.conj(n2)
        gs[r, 0] = n1 * l1
        gs[r, 1] = n2 * l2


@numba.jit(**_JIT)
def _iir_terms_rows(u, x, y, b, b_row, na, gx, gb, ga):  # pragma: no cover - compiled
    # One pass, backwards in time: gx[t] = sum_k b_k u[t+k], gb[k] = sum_t u[t] x[t-k],
    # ga[k] = -sum_t u[t] y[t-k], summed in float64. Second-order filters (three
    # taps each side) keep every sum and the window of u in registers: summing
    # into arrays chains loads and stores and runs five times slower.
    rows, steps = u.shape
    nb = b.shape[1]
    for r in numba.prange(rows):
        c = b[b_row[r]]
        ur, xr, yr = u[r], x[r], y[r]
        if nb == 3 and na == 3:
            b0, b1, b2 = c[0], c[1], c[2]
            u1 = u2 = 0.0
            s0 = s1 = s2 = a1 = a2 = 0.0
            for t in range(steps - 1, -1, -1):
                ut = np.float64(ur[t])
                gx[r, t] = b0 * ut + b1 * u1 + b2 * u2
                u2 = u1
                u1 = ut
                s0 += ut * xr[t]
                if t >= 2:
                    s1 += ut * xr[t - 1]
                    s2 += ut * xr[t - 2]
                    a1 -= ut * yr[t - 1]
                    a2 -= ut * yr[t - 2]
                elif t == 1:
                    s1 += ut * xr[0]
                    a1 -= ut * yr[0]
            gb[r, 0], gb[r, 1], gb[r, 2] = s0, s1, s2
            ga[r, 0], ga[r, 1], ga[r, 2] = 0.0, a1, a2
        else:
            sb = np.zeros(nb)
            sa = np.zeros(na)
            for t in range(steps):
                acc = 0.0
                for k in range(min(nb, steps - t)):
                    acc += c[k] * ur[t + k]
                gx[r, t] = acc
                ut = np.float64(ur[t])
                for k in range(min(nb, t + 1)):
                    sb[k] += ut * xr[t - k]
                for k in range(1, min(na, t + 1)):
                    sa[k] -= ut * yr[t - k]
            gb[r] = sb
            ga[r] = sa


@numba.jit(**_JIT)
def _matrix_rows(x, a, a_row, h0, adjoint, out):  # pragma: no cover - compiled
    # h[t] = A[t] h[t-1] + x[t] on N-vectors (adjoint: h[t] = A[t+1]^T h[t+1] + x[t],
    # backwards from h[T-1] = x[T-1]), state in float64.
    rows, steps, n = x.shape
    varying = a.shape[1] != 1
    for r in numba.prange(rows):
        coef = a[a_row[r]]
        h = np.zeros(n)
        new = np.zeros(n)
        if adjoint:
            for i in range(n):
                h[i] = x[r, steps - 1, i]
                out[r, steps - 1, i] = h[i]
        else:
            for i in range(n):
                h[i] = h0[r, i]
        for step in range(steps - 1 if adjoint else steps):
            t = steps - 2 - step if adjoint else step
            c = coef[(t + 1 if adjoint else t) if varying else 0]
            for i in range(n):
                acc = np.float64(x[r, t, i])
                for j in range(n):
                    acc += (c[j, i] if adjoint else c[i, j]) * h[j]
                new[i] = acc
            for i in range(n):
                h[i] = new[i]
                out[r, t, i] = new[i]


@numba.jit(**_JIT)
def _ballistics_rows(x, up, up_row, down, down_row, y0, out, rising):  # pragma: no cover - compiled
    # y[t] = y[t-1] + alpha[t] (x[t] - y[t-1]), alpha = up[t] where x[t] > y[t-1] else down[t].
    rows, steps = x.shape
    vary_up, vary_down = up.shape[1] != 1, down.shape[1] != 1
    for r in numba.prange(rows):
        cu, cd = up[up_row[r]], down[down_row[r]]
        y = np.float64(y0[r])
        for t in range(steps):
            xt = x[r, t]
            rise = xt > y
            alpha = cu[t if vary_up else 0] if rise else cd[t if vary_down else 0]
            y += alpha * (xt - y)
            out[r, t] = y
            rising[r, t] = rise


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
    stored = a.detach().resolve_conj().contiguous().reshape(math.prod(lead), *a.shape[a.dim() - trailing:])
    return stored.numpy(), rows.numpy()


def scan(x: torch.Tensor, a: torch.Tensor, h0: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
    """``h[t] = a[t] h[t-1] + x[t]`` on ``x`` ``(*batch, T)``; ``a`` is
    ``(*batch_a, 1 or T)`` with ``batch_a`` broadcastable to ``batch``; ``h0`` is ``batch``.
    With ``adjoint``: ``h[t] = conj(a[t+1]) h[t+1] + x[t]`` backwards in time
    from ``h[T-1] = x[T-1]`` (``h0`` unused)."""
    out = torch.empty(x.shape, dtype=x.dtype)
    _scan_rows(
        _rows(x, x.shape, x.shape[-1]),
        *_coefficient_rows(a, x.shape[:-1], 1),
        _rows(h0, x.shape[:-1]),
        _accumulator(x.dtype),
        adjoint,
        out.view(-1, x.shape[-1]).numpy(),
    )
    return out


def allpole(x: torch.Tensor, a: torch.Tensor, zi: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
    """``y[t] = x[t] - sum_k a[t, k] y[t-1-k]`` on ``x`` ``(*batch, T)``; ``a`` is
    ``(*batch_a, 1 or T, order)``; ``zi`` is ``(*batch, order)`` = ``y[-1], ..., y[-order]``.
    With ``adjoint``: ``y[t] = x[t] - sum_k a[t+1+k, k] y[t+1+k]`` backwards in
    time from zero (``zi`` unused)."""
    out = torch.empty(x.shape, dtype=x.dtype)
    order = a.shape[-1]
    _allpole_rows(
        _rows(x, x.shape, x.shape[-1]),
        *_coefficient_rows(a, x.shape[:-1], 2),
        _rows(zi, (*x.shape[:-1], order), order),
        _accumulator(x.dtype),
        adjoint,
        out.view(-1, x.shape[-1]).numpy(),
    )
    return out


def modal(x: torch.Tensor, b: torch.Tensor, poles: torch.Tensor, reverse: bool) -> torch.Tensor:
    """Real part of ``x`` ``(*batch, T)`` through the FIR ``b`` ``(*batch_b, nb)``
    and the one-poles ``poles`` ``(*batch_p, K)`` in cascade: one pass per pair
    of poles, complex128 state; ``reverse`` runs it backwards in time."""
    out = torch.empty(x.shape, dtype=x.dtype)
    # Sections of two poles; a missing pole is 0 (an identity stage). At least
    # one section, so that a pure FIR still runs.
    poles = poles.to(torch.complex128)
    if b.shape[-1] < 3:  # short numerators take the kernel's register path
        b = torch.nn.functional.pad(b, (0, 3 - b.shape[-1]))
    count = max(1, (poles.shape[-1] + 1) // 2)
    sections = torch.nn.functional.pad(poles, (0, 2 * count - poles.shape[-1])).unflatten(-1, (count, 2))
    _modal_rows(
        _rows(x, x.shape, x.shape[-1]),
        *_coefficient_rows(b.to(torch.float64), x.shape[:-1], 1),
        *_coefficient_rows(sections, x.shape[:-1], 2),
        reverse,
        out.view(-1, x.shape[-1]).numpy(),
    )
    return out


def section(v: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, s: torch.Tensor):
    """Two complex one-poles in cascade on real ``v`` ``(*batch, T)``; ``p1``,
    ``p2`` are ``(*batch_p, 1 or T)``, ``s`` the initial states ``(*batch, 2)``.
    Returns ``(Re h2, h1, h2)``."""
    complex_dtype = torch.complex64 if v.dtype == torch.float32 else torch.complex128
    y = torch.empty(v.shape, dtype=v.dtype)
    h1 = torch.empty(v.shape, dtype=complex_dtype)
    h2 = torch.empty(h1.shape, dtype=h1.dtype)
    width = v.shape[-1]
    _section_rows(
        _rows(v, v.shape, width),
        *_coefficient_rows(p1, v.shape[:-1], 1),
        *_coefficient_rows(p2.conj() if p2.is_conj() else p2, v.shape[:-1], 1),
        p2.is_conj(),
        _rows(s, (*v.shape[:-1], 2), 2),
        y.view(-1, width).numpy(),
        h1.view(-1, width).numpy(),
        h2.view(-1, width).numpy(),
    )
    return y, h1, h2


def section_adjoint(g, end, p1, p2, s, h1, h2):
    """Adjoint of :func:`section`: cotangents of ``v``, ``p1``, ``p2`` (per
    sample, before any reduction over broadcast dims) and ``s``."""
    gv = torch.empty(g.shape, dtype=g.dtype)
    gp1, gp2 = (torch.empty(h1.shape, dtype=h1.dtype) for _ in range(2))
    gs = torch.empty(*g.shape[:-1], 2, dtype=h1.dtype)
    width = g.shape[-1]
    _section_adjoint_rows(
        _rows(g, g.shape, width),
        _rows(end, (*g.shape[:-1], 2), 2),
        *_coefficient_rows(p1, g.shape[:-1], 1),
        *_coefficient_rows(p2.conj() if p2.is_conj() else p2, g.shape[:-1], 1),
        p2.is_conj(),
        _rows(s, (*g.shape[:-1], 2), 2),
        _rows(h1, h1.shape, width),
        _rows(h2, h2.shape, width),
        gv.view(-1, width).numpy(),
        gp1.view(-1, width).numpy(),
        gp2.view(-1, width).numpy(),
        gs.view(-1, 2).numpy(),
    )
    return gv, gp1, gp2, gs


def iir_terms(u: torch.Tensor, x: torch.Tensor, y: torch.Tensor, b: torch.Tensor, na: int):
    """Per-row gradient terms of ``y = B x / A`` given ``u = A^-T g`` (``(*batch, T)``):
    ``B^T u`` and the lagged sums ``sum_t u[t] x[t-k]``, ``-sum_t u[t] y[t-k]``."""
    batch, width = u.shape[:-1], u.shape[-1]
    taps, order = b.shape[-1], na
    if taps <= 3 and na <= 3:  # pad second-order filters onto the kernel's register path
        b, na = torch.nn.functional.pad(b, (0, 3 - taps)), 3
    gx = torch.empty(u.shape, dtype=u.dtype)
    gb = torch.empty(*batch, b.shape[-1], dtype=torch.float64)
    ga = torch.empty(*batch, na, dtype=torch.float64)
    _iir_terms_rows(
        _rows(u, u.shape, width),
        _rows(x, u.shape, width),
        _rows(y, u.shape, width),
        *_coefficient_rows(b.to(torch.float64), batch, 1),
        na,
        gx.view(-1, width).numpy(),
        gb.view(-1, b.shape[-1]).numpy(),
        ga.view(-1, na).numpy(),
    )
    return gx, gb[..., :taps], ga[..., :order]


def matrix(x: torch.Tensor, a: torch.Tensor, h0: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
    """``h[t] = A[t] h[t-1] + x[t]`` on ``x`` ``(*batch, T, N)``; ``a`` is
    ``(*batch_a, 1 or T, N, N)``; ``h0`` is ``(*batch, N)``. With ``adjoint``:
    ``h[t] = A[t+1]^T h[t+1] + x[t]`` backwards from ``h[T-1] = x[T-1]``."""
    n = x.shape[-1]
    out = torch.empty(x.shape, dtype=x.dtype)
    rows = math.prod(x.shape[:-2])
    _matrix_rows(
        _rows(x, x.shape).reshape(rows, x.shape[-2], n),
        *_coefficient_rows(a, x.shape[:-2], 3),
        _rows(h0, (*x.shape[:-2], n), n),
        adjoint,
        out.view(rows, x.shape[-2], n).numpy(),
    )
    return out


def ballistics(x: torch.Tensor, up: torch.Tensor, down: torch.Tensor, y0: torch.Tensor):
    """Branching one-pole on ``x`` ``(*batch, T)`` with smoothing coefficients
    ``up``/``down`` ``(*batch_c, 1 or T)`` and initial value ``y0`` ``batch``;
    returns ``(y, rising)`` where ``rising[t] = x[t] > y[t-1]`` chose ``up``."""
    out = torch.empty(x.shape, dtype=x.dtype)
    rising = torch.empty(x.shape, dtype=torch.bool)
    width = x.shape[-1]
    _ballistics_rows(
        _rows(x, x.shape, width),
        *_coefficient_rows(up.to(torch.float64), x.shape[:-1], 1),
        *_coefficient_rows(down.to(torch.float64), x.shape[:-1], 1),
        _rows(y0, x.shape[:-1]),
        out.view(-1, width).numpy(),
        rising.view(-1, width).numpy(),
    )
    return out, rising
