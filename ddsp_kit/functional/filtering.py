r"""Recursive filtering on the kernels, in modal (complex-pole) form.

Direct-form denominators are accepted as input but never scanned: a float32
scan of ``y[t] = x[t] - a1 y[t-1] - a2 y[t-2]`` loses all accuracy when the
poles approach the unit circle. Instead the denominator is factored,

.. math::
    \frac{1}{A(z)} = \prod_k \frac{1}{1 - p_k z^{-1}},

(roots found in double precision), and the filter runs as a cascade of
complex first-order recurrences :math:`h_k[t] = p_k h_k[t-1] + h_{k-1}[t]`,
whose error stays at float32 rounding for any pole radius below 1. A cascade
rather than a partial-fraction sum keeps repeated and nearly real poles exact.
Numerators are FIR and run directly.

Time-invariant filters (:func:`lfilter`, :func:`sosfilt`) run numerator and
poles in one fused kernel pass (:func:`ddsp_kit.kernels.modal_iir`); their
gradients come from the same filter run backwards in time, so coefficient
gradients never go through the roots. Time-varying sections
(:func:`sosfilt_tv`, :func:`biquad`) run on
:func:`ddsp_kit.kernels.modal_section`; the time-varying all-pole
(:func:`allpole`) on :func:`ddsp_kit.kernels.allpole_recurrence`.

Signal NaN/Inf is not checked: it propagates to every later output sample.
Non-finite coefficients and unstable time-invariant filters raise ``ValueError``.
"""

from typing import Optional, Union

import torch
import torch.nn.functional as F

from ..kernels import allpole_recurrence, modal_iir, modal_section, resolve_backend
from ..kernels.recurrence import check_coefficients_after

Tensor = torch.Tensor
_REAL = (torch.float32, torch.float64)


def _coefficients(name: str, value, min_dims: int = 1, check_finite: bool = True) -> Tensor:
    """Coefficients as a real floating tensor, checked for shape and (unless the
    caller checks the output instead, for per-sample coefficients) finiteness."""
    t = value if isinstance(value, Tensor) else torch.as_tensor(value, dtype=torch.float64)
    if not (t.is_floating_point() and t.dtype in _REAL):
        raise ValueError(f"{name} must be float32 or float64, got {t.dtype}")
    if t.dim() < min_dims or t.shape[-1] == 0:
        raise ValueError(f"{name} must have at least {min_dims} dim(s) and a non-empty last dim, got {tuple(t.shape)}")
    if check_finite and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or Inf values (shape {tuple(t.shape)})")
    return t


def _signal(x, name: str = "x", finite: bool = False) -> Tensor:
    """A real float tensor with a last axis; ``finite`` also rejects NaN/Inf
    (states are checked; signals are not, see the module docstring)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _REAL:
        raise ValueError(f"{name} must be float32 or float64, got {x.dtype}")
    if x.dim() < 1:
        raise ValueError(f"{name} must have a last axis, got shape {tuple(x.shape)}")
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or Inf values (shape {tuple(x.shape)})")
    return x


def _check_batch(**shapes) -> None:
    """Raise a ValueError naming every shape when the batch dims do not broadcast."""
    try:
        torch.broadcast_shapes(*shapes.values())
    except RuntimeError:
        listed = ", ".join(f"{name} {tuple(shape)}" for name, shape in shapes.items())
        raise ValueError(f"batch dims do not broadcast: {listed}") from None


def _normalise(name: str, b: Tensor, a: Tensor):
    """Divide numerator and denominator by the leading denominator coefficient."""
    if bool((a[..., 0] == 0).any()):
        raise ValueError(f"{name}[..., 0] must be non-zero (it normalises the filter), got {a[..., 0]}")
    return b / a[..., :1], a / a[..., :1]


def polynomial_roots(c: Tensor) -> Tensor:
    r"""Roots of :math:`z^M + c_1 z^{M-1} + \dots + c_M` for ``c = [1, c_1, ..., c_M]``.

    Computed in double precision: closed form up to order 2 (choosing the
    quadratic's sign that avoids cancellation; for real coefficients a complex
    pair is exactly conjugate and listed with the positive imaginary part
    first, two real roots with the larger first, so that the order is
    continuous in the coefficients, which a time-varying cascade of the two
    poles relies on), companion-matrix eigenvalues
    above, polished by one Newton step on the polynomial wherever the root is
    simple (tenfold more accurate filters for clustered high-order poles;
    repeated roots are left as the eigen-solver gives them, which reproduces
    their polynomial best). Differentiable except at repeated roots, where root
    derivatives are infinite (the real quadratic then returns the derivative of
    the roots' mean, finite; the eigenvalue path returns NaN); parameterise
    poles directly to learn such filters.

    Args:
        c: coefficients, ``(..., M + 1)``, highest power first; divided by
            ``c[..., 0]``, which must not be 0.

    Returns:
        complex128 roots, ``(..., M)``; real roots have zero imaginary part.

    Example:
        >>> polynomial_roots(torch.tensor([1.0, -1.5, 0.5])).real
        tensor([1.0000, 0.5000], dtype=torch.float64)
    """
    if bool((c[..., 0] == 0).any()):
        raise ValueError("c[..., 0] (the leading coefficient) must be non-zero")
    c = c / c[..., :1]
    order = c.shape[-1] - 1
    if order == 2 and not c.is_complex():
        c1, c2 = c[..., 1].to(torch.float64), c[..., 2].to(torch.float64)
        disc = c1 * c1 - 4 * c2
        # At a double root the square root has an infinite slope; the modal
        # time-varying section is not differentiable there (which pole comes
        # first flips), so take the gradient through the roots' mean only,
        # a finite one-sided choice, instead of NaN.
        nonzero = disc != 0
        root = torch.sqrt(torch.where(nonzero, disc.abs(), torch.ones_like(disc))) * nonzero
        # Real roots: q is the one of larger magnitude (no cancellation), c2 / q
        # the other; q is non-zero wherever disc is (the divisor is guarded so
        # that the unused branch of where() cannot leak a NaN gradient).
        half = -c1 / 2
        q = torch.where(nonzero, -(c1 + torch.where(c1 >= 0, root, -root)) / 2, torch.ones_like(c1))
        other = c2 / q
        high = torch.where(nonzero, torch.maximum(q, other), half)
        low = torch.where(nonzero, torch.minimum(q, other), half)
        real = disc >= 0
        first = torch.complex(torch.where(real, high, half), torch.where(real, torch.zeros_like(root), root / 2))
        second = torch.complex(torch.where(real, low, half), torch.where(real, torch.zeros_like(root), -root / 2))
        return torch.stack([first, second], -1)
    c = c.to(torch.complex128)
    if order == 0:
        return c[..., :0]
    if order == 1:
        return -c[..., 1:]
    if order == 2:
        c1, c2 = c[..., 1], c[..., 2]
        s = torch.sqrt(c1 * c1 - 4 * c2)
        s = torch.where((c1.conj() * s).real >= 0, s, -s)
        q = -(c1 + s) / 2
        safe = torch.where(q == 0, torch.ones_like(q), q)
        return torch.stack([q, torch.where(q == 0, torch.zeros_like(q), c2 / safe)], -1)
    companion = torch.zeros(*c.shape[:-1], order, order, dtype=c.dtype, device=c.device)
    companion[..., 0, :] = -c[..., 1:]
    companion[..., 1:, :-1] = torch.eye(order - 1, dtype=c.dtype, device=c.device)
    roots = torch.linalg.eigvals(companion)
    value, slope = torch.zeros_like(roots), torch.zeros_like(roots)
    for k in range(order + 1):  # Horner for the polynomial and its derivative
        slope = slope * roots + value
        value = value * roots + c[..., k:k + 1]
    step = value / torch.where(slope == 0, torch.ones_like(slope), slope)
    # Newton converges only towards a simple root: a step that is not small
    # against the distance to the nearest other root would split a repeated one.
    distance = (roots.unsqueeze(-1) - roots.unsqueeze(-2)).abs()
    distance = distance + torch.diag_embed(torch.full_like(roots.real, float("inf")))
    simple = (step.abs() < 0.1 * distance.amin(-1)) & (slope != 0)
    return torch.where(simple, roots - step, roots)


def _check_stable(name: str, poles: Tensor) -> None:
    """Poles strictly inside the unit circle (a NaN radius fails too: one pass for both;
    the squared radius is twice as fast as ``abs``, which guards against overflow)."""
    if not bool((poles.real.square() + poles.imag.square() < 1).all()):
        radius = poles.abs()
        if not bool(torch.isfinite(radius).all()):
            raise ValueError(f"{name} holds NaN or Inf values (shape {tuple(poles.shape)})")
        raise ValueError(
            f"{name} describes an unstable filter: largest pole radius {float(radius.max()):.9g} >= 1 "
            f"(poles must lie strictly inside the unit circle)"
        )


def _fir(x: Tensor, b: Tensor, history: Tensor) -> Tensor:
    """``v[t] = sum_k b_k[t] x[t-k]``; ``b`` is ``(..., 1 or T, nb)``, ``history``
    holds ``x[-1], x[-2], ...``."""
    taps, steps = b.shape[-1], x.shape[-1]
    batch = torch.broadcast_shapes(x.shape[:-1], history.shape[:-1])
    past = history[..., : taps - 1].flip(-1).expand(*batch, taps - 1)
    extended = torch.cat([past, x.expand(*batch, steps)], -1)
    v = b[..., 0] * extended[..., taps - 1:]
    for k in range(1, taps):
        v = v + b[..., k] * extended[..., taps - 1 - k: taps - 1 - k + steps]
    return v


def _lagged_products(u: Tensor, s: Tensor, lags: range, reverse: bool) -> Tensor:
    """``sum_t u[t] s[t-k]`` (``s[t+k]`` when ``reverse``) for each ``k`` in ``lags``, on a new last axis."""
    steps = u.shape[-1]
    if reverse:
        terms = [(u[..., : steps - k] * s[..., k:]).sum(-1) for k in lags]
    else:
        terms = [(u[..., k:] * s[..., : steps - k]).sum(-1) for k in lags]
    return torch.stack(terms, -1)


class _InvariantIIR(torch.autograd.Function):
    r"""``y = B(z) x / A(z)`` for time-invariant ``b`` and monic ``a``, causal or
    (``reverse``) anticausal, on the fused modal kernel.

    Backward: the adjoint of a time-invariant filter is the same filter run the
    other way in time. With ``u = A^{-T} g`` (the all-pole part reversed),
    ``dL/dx = B^T u``, ``dL/db_k = sum_t u[t] x[t-k]`` and
    ``dL/da_k = -sum_t u[t] y[t-k]`` (``t+k`` for the anticausal filter). The
    coefficients are differentiated without differentiating the roots (which is
    singular at repeated poles), and the backward calls this same function, so
    it differentiates again.
    """

    @staticmethod
    def forward(ctx, x, b, a, reverse, backend):
        poles = polynomial_roots(a)
        _check_stable("a", poles)
        y = modal_iir(x, b, poles, reverse=reverse, backend=backend)
        ctx.reverse, ctx.backend = reverse, backend
        ctx.save_for_backward(x, b, a, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, b, a, y = ctx.saved_tensors
        need_x, need_b, need_a = ctx.needs_input_grad[:3]
        adjoint = not ctx.reverse
        if not (need_b or need_a):
            return _InvariantIIR.apply(grad, b, a, adjoint, ctx.backend).sum_to_size(x.shape), None, None, None, None
        one = torch.ones(1, dtype=a.dtype, device=a.device)
        kernel = resolve_backend(ctx.backend, grad.device)
        if kernel.iir_terms is not None and adjoint and not torch.is_grad_enabled():
            # First derivatives only: one reverse pass for u, one fused pass for the rest.
            u = modal_iir(grad, one, polynomial_roots(a), reverse=True, backend=ctx.backend)
            grad_x, grad_b, grad_a = kernel.iir_terms(u, x, y, b, a.shape[-1])
            return (
                grad_x.sum_to_size(x.shape) if need_x else None,
                grad_b.to(b.dtype).sum_to_size(b.shape) if need_b else None,
                grad_a.to(a.dtype).sum_to_size(a.shape) if need_a else None,
                None,
                None,
            )
        u = _InvariantIIR.apply(grad, one, a, adjoint, ctx.backend)
        grad_x = grad_b = grad_a = None
        if need_x:
            grad_x = _InvariantIIR.apply(u, b, one, adjoint, ctx.backend).sum_to_size(x.shape)
        if need_b:
            grad_b = _lagged_products(u, x, range(b.shape[-1]), ctx.reverse).sum_to_size(b.shape)
        if need_a:
            lagged = _lagged_products(u, y, range(1, a.shape[-1]), ctx.reverse)
            grad_a = -F.pad(lagged, (1, 0)).sum_to_size(a.shape)
        return grad_x, grad_b, grad_a, None, None


def _df2t_final_state(x: Tensor, y: Tensor, b: Tensor, a: Tensor, zi: Tensor) -> Tensor:
    """scipy's transposed-direct-form-II state after the last sample.

    ``zf[k] = sum_{m>k} (b_m x[T-1+k+1-m] - a_m y[T-1+k+1-m]) + zi[k+T]``,
    with samples before the block taken as zero (their effect is ``zi``).
    """
    size = zi.shape[-1]
    steps = x.shape[-1]
    if size == 0:  # a gain: no state
        return y.new_zeros(*y.shape[:-1], 0)
    x_tail = F.pad(x, (max(size - steps, 0), 0))[..., -size:]
    y_tail = F.pad(y, (max(size - steps, 0), 0))[..., -size:]
    b = F.pad(b, (0, size + 1 - b.shape[-1]))
    a = F.pad(a, (0, size + 1 - a.shape[-1]))
    zf = torch.stack(
        [
            (b[..., k + 1:] * x_tail[..., k:].flip(-1)).sum(-1) - (a[..., k + 1:] * y_tail[..., k:].flip(-1)).sum(-1)
            for k in range(size)
        ],
        -1,
    )
    if steps < size:
        zf = zf + F.pad(zi[..., steps:], (0, steps))
    return zf


def lfilter(
    x: Tensor,
    b: Union[Tensor, list],
    a: Union[Tensor, list],
    zi: Optional[Tensor] = None,
    *,
    backend: Optional[str] = None,
):
    r"""Time-invariant IIR filter with :func:`scipy.signal.lfilter` semantics.

    .. math::
        Y(z) = \frac{B(z) X(z) + Z_i(z)}{A(z)},\quad
        B(z) = \sum_{k} b_k z^{-k},\ A(z) = \sum_k a_k z^{-k}

    where :math:`Z_i(z) = \sum_k zi_k z^{-k}` is the transposed-direct-form-II
    initial state (what ``scipy.signal.lfilter_zi`` / ``lfiltic`` produce).
    The denominator runs as a cascade of complex one-poles (see the module
    docstring); every pole must lie strictly inside the unit circle.

    Args:
        x: real signal, ``(..., T)``.
        b: numerator, ``(..., nb)``; leading dims broadcast against ``x``.
        a: denominator, ``(..., na)``, ``a[..., 0] != 0``. Lists are read in
            double precision; the output dtype is promoted from ``x`` and any
            coefficient tensors.
        zi: initial state, ``(..., max(na, nb) - 1)``. When given, the final
            state is returned too (as in scipy), ready to filter the next block;
            it is float64 whatever the signal's dtype (see the code comment).
        backend: kernel backend, None for automatic.

    Returns:
        ``y`` ``(*batch, T)``, or ``(y, zf)`` when ``zi`` is given.

    Example:
        >>> x = torch.tensor([1.0, 0.0, 0.0, 0.0])
        >>> lfilter(x, [1.0, 0.0], [1.0, -0.5])
        tensor([1.0000, 0.5000, 0.2500, 0.1250])
    """
    x = _signal(x)
    # Coefficients given as lists do not widen the output, as Python scalars in torch.
    dtype = x.dtype
    for coefficients in (b, a):
        if isinstance(coefficients, Tensor):
            dtype = torch.promote_types(dtype, coefficients.dtype)
    b, a = _normalise("a", _coefficients("b", b), _coefficients("a", a))
    size = max(a.shape[-1], b.shape[-1]) - 1
    batch = dict(x=x.shape[:-1], b=b.shape[:-1], a=a.shape[:-1])
    if zi is not None:
        zi = _signal(zi, "zi", finite=True)
        if zi.shape[-1:] != (size,):
            raise ValueError(f"zi must end with max(len(a), len(b)) - 1 = {size}, got shape {tuple(zi.shape)}")
        batch["zi"] = zi.shape[:-1]
    _check_batch(**batch)
    # The direct-form state sums products of large coefficients with samples,
    # which float32 cannot carry across blocks of a high-order filter (measured:
    # 1e-3 drift for an 8th-order elliptic): streaming runs, and the state is
    # returned, in double precision.
    work = dtype if zi is None else torch.float64
    x, b, a = x.to(work), b.to(work), a.to(work)
    if zi is None:
        y = _InvariantIIR.apply(x, b, a, False, backend)
    else:
        one = torch.ones(1, dtype=work, device=x.device)
        v = _InvariantIIR.apply(x, b, one, False, backend)  # the numerator alone
        zi = zi.to(work)
        head = min(size, x.shape[-1])
        v = v.expand(*torch.broadcast_shapes(v.shape[:-1], zi.shape[:-1]), v.shape[-1])
        v = torch.cat([v[..., :head] + zi[..., :head], v[..., head:]], -1)
        y = _InvariantIIR.apply(v, one, a, False, backend)
    if zi is None:
        return y.to(dtype)
    return y.to(dtype), _df2t_final_state(x, y, b, a, zi)


def sosfilt(x: Tensor, sos: Tensor, zi: Optional[Tensor] = None, *, backend: Optional[str] = None):
    r"""Cascade of second-order sections, :func:`scipy.signal.sosfilt` semantics.

    Args:
        x: real signal, ``(..., T)``.
        sos: sections ``[b0, b1, b2, a0, a1, a2]``, ``(..., n_sections, 6)``.
        zi: per-section transposed-direct-form-II state, ``(..., n_sections, 2)``
            (scipy's ``(n_sections, 2)`` for one signal; batch dims lead here,
            as everywhere in ddsp_kit). When given, ``(y, zf)`` is returned.
        backend: kernel backend, None for automatic.

    Returns:
        ``y``, or ``(y, zf)`` when ``zi`` is given.

    Example:
        >>> sos = torch.tensor([[1.0, 0.0, 0.0, 1.0, -0.5, 0.0]])
        >>> sosfilt(torch.tensor([1.0, 0.0, 0.0]), sos)
        tensor([1.0000, 0.5000, 0.2500])
    """
    sos = _coefficients("sos", sos, min_dims=2)
    if sos.shape[-1] != 6:
        raise ValueError(f"sos must be (..., n_sections, 6), got shape {tuple(sos.shape)}")
    if zi is not None:
        zi = _signal(zi, "zi", finite=True)
    if zi is not None and zi.shape[-2:] != (sos.shape[-2], 2):
        raise ValueError(f"zi must be (..., n_sections={sos.shape[-2]}, 2), got shape {tuple(zi.shape)}")
    x = _signal(x)
    dtype = torch.promote_types(x.dtype, sos.dtype)
    # With a state, sections pass double precision to each other, as lfilter streams in it.
    y, states = (x if zi is None else x.to(torch.float64)), []
    for s in range(sos.shape[-2]):
        section = sos[..., s, :]
        out = lfilter(y, section[..., :3], section[..., 3:], None if zi is None else zi[..., s, :], backend=backend)
        if zi is None:
            y = out
        else:
            y, state = out
            states.append(state)
    if zi is None:
        return y
    return y.to(dtype), torch.stack(states, -2)


def _section(x: Tensor, b: Tensor, p1: Tensor, p2: Tensor, state: Optional[Tensor], backend: Optional[str]):
    """One second-order section: FIR numerator ``b`` ``(..., 1 or T, 3)``, then
    the complex one-poles ``p1``, ``p2`` ``(..., 1 or T)`` in cascade.

    ``state`` is real ``(..., 6)``: ``x[-1], x[-2]``, then the two complex
    one-pole states as (real, imag) pairs.
    """
    history = x.new_zeros(2) if state is None else state[..., :2]
    v = _fir(x, b, history)
    h0 = None if state is None else torch.complex(state[..., 2::2], state[..., 3::2])
    y, ends = modal_section(v, p1, p2, h0, backend=backend)
    ends = torch.view_as_real(ends).flatten(-2).to(x.dtype)
    batch = ends.shape[:-1]
    if x.shape[-1] >= 2:
        tail = x[..., -2:]
    else:
        tail = torch.cat([history.flip(-1).expand(*batch, 2), x.expand(*batch, x.shape[-1])], -1)[..., -2:]
    past = tail.flip(-1).expand(*batch, 2)
    return y.to(x.dtype), torch.cat([past, ends], -1)


def sosfilt_tv(x: Tensor, sos: Tensor, state: Optional[Tensor] = None, *, backend: Optional[str] = None):
    r"""Time-varying cascade of second-order sections, per-sample coefficients.

    Each section's denominator :math:`1 + a_1[t] z^{-1} + a_2[t] z^{-2}` is
    factored at every sample into its two poles :math:`p_1[t], p_2[t]` (closed
    form) and run as two complex one-poles in cascade,

    .. math::
        v[t] = \sum_{k=0}^2 b_k[t] x[t-k],\quad
        h_1[t] = p_1[t] h_1[t-1] + v[t],\quad
        h_2[t] = p_2[t] h_2[t-1] + h_1[t],\quad y[t] = \mathrm{Re}\, h_2[t].

    With constant coefficients this is exactly the direct-form biquad. With
    moving coefficients it is the modal realisation: it stays stable whenever
    every sample's poles lie inside the unit circle (a time-varying direct form
    does not guarantee that) and keeps float32 accuracy near the unit circle.

    Gradients with respect to per-sample ``sos`` go through the per-sample
    roots. Near a repeated pole (``a1**2 == 4 a2``, e.g. a critically damped
    ``Q = 0.5`` design) root derivatives grow without bound, and at it the
    realisation is not differentiable (the poles' order flips): there the
    gradient is taken through the poles' mean, a finite but one-sided value.
    To learn such filters, parameterise the poles (:func:`biquad`) or the
    physical design. Constant sections (time axis 1) without a state run as
    :func:`sosfilt`, whose gradients do not go through the roots.

    Args:
        x: real signal, ``(..., T)``.
        sos: sections ``[b0, b1, b2, a0, a1, a2]`` per sample, ``(..., n_sections, T, 6)``,
            or ``(..., n_sections, 1, 6)`` for constant coefficients.
        state: ``(..., n_sections, 6)`` from a previous block (zeros to start).
            When given, ``(y, final_state)`` is returned.
        backend: kernel backend, None for automatic.

    Returns:
        ``y``, or ``(y, final_state)`` when ``state`` is given.

    Example:
        >>> sos = torch.tensor([[[1.0, 0.0, 0.0, 1.0, -0.5, 0.0]]])
        >>> sosfilt_tv(torch.tensor([1.0, 0.0, 0.0]), sos)
        tensor([1.0000, 0.5000, 0.2500])
    """
    x = _signal(x)
    sos = _coefficients("sos", sos, min_dims=3, check_finite=False)
    if sos.shape[-1] != 6 or sos.shape[-2] not in (1, x.shape[-1]):
        raise ValueError(
            f"sos must be (..., n_sections, T={x.shape[-1]} or 1, 6), got shape {tuple(sos.shape)}"
        )
    n_sections = sos.shape[-3]
    batch = dict(x=x.shape[:-1], sos=sos.shape[:-3])
    if state is not None:
        state = _signal(state, "state", finite=True)
        if state.shape[-2:] != (n_sections, 6):
            raise ValueError(f"state must be (..., n_sections={n_sections}, 6), got shape {tuple(state.shape)}")
        batch["state"] = state.shape[:-2]
    _check_batch(**batch)
    if sos.shape[-2] == 1 and state is None:
        return sosfilt(x, sos.squeeze(-2), backend=backend)
    x = x.to(torch.promote_types(x.dtype, sos.dtype))
    b, a = _normalise("sos[..., 3]", sos[..., :3], sos[..., 3:])
    poles = polynomial_roots(a)
    _check_stable("sos", poles)
    y, states = x, []
    for s in range(n_sections):
        section_state = None if state is None else state[..., s, :]
        p1, p2 = poles[..., s, :, 0], poles[..., s, :, 1]
        y, final = _section(y, b[..., s, :, :].to(x.dtype), p1, p2, section_state, backend)
        states.append(final)
    check_coefficients_after(y, sos=sos)
    if state is None:
        return y
    return y, torch.stack(states, -2)


def biquad(
    x: Tensor,
    pole: Tensor,
    zero: Optional[Tensor] = None,
    gain: Union[Tensor, float] = 1.0,
    state: Optional[Tensor] = None,
    *,
    backend: Optional[str] = None,
):
    r"""Second-order section from a complex pole and zero (and their conjugates).

    .. math::
        H(z) = g\,\frac{(1 - q z^{-1})(1 - \bar q z^{-1})}{(1 - p z^{-1})(1 - \bar p z^{-1})}

    Parameterising by ``p`` keeps the filter stable by construction whenever
    ``|p| < 1`` (e.g. ``p = sigmoid(u) * exp(1j * w)``). Time-varying values
    run as in :func:`sosfilt_tv`.

    Args:
        x: real signal, ``(..., T)``.
        pole: complex pole ``p``, ``(..., T)`` per sample or ``(..., 1)``.
        zero: complex zero ``q`` (same layout), None for no zeros.
        gain: real gain ``g``, a float or ``(..., T or 1)``.
        state: ``(..., 6)`` from a previous block (zeros to start); when given,
            ``(y, final_state)`` is returned.
        backend: kernel backend, None for automatic.

    Returns:
        ``y``, or ``(y, final_state)`` when ``state`` is given.

    Example:
        >>> y = biquad(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.5j]))
        >>> torch.allclose(y, torch.tensor([1.0, 0.0, -0.25]))
        True
    """
    x = _signal(x)
    if not (isinstance(pole, Tensor) and pole.is_complex() and pole.dim() >= 1):
        raise ValueError("pole must be a complex tensor (..., T or 1)")
    if zero is not None and not (isinstance(zero, Tensor) and zero.is_complex() and zero.dim() >= 1):
        raise ValueError("zero must be a complex tensor (..., T or 1), or None")
    if zero is not None and not bool(torch.isfinite(zero).all()):
        raise ValueError(f"zero holds NaN or Inf values (shape {tuple(zero.shape)})")
    if isinstance(gain, complex) or (isinstance(gain, Tensor) and gain.is_complex()):
        raise ValueError("gain must be real")
    _check_stable("pole", pole)
    gain = torch.as_tensor(gain, dtype=x.dtype, device=x.device)
    gain = gain.reshape(1) if gain.dim() == 0 else gain
    _coefficients("gain", gain)
    if zero is None:
        b = gain.unsqueeze(-1)  # no numerator taps beyond the gain
    else:
        b = gain.unsqueeze(-1) * torch.stack([torch.ones_like(zero.real), -2 * zero.real, zero.abs() ** 2], -1)
    batch = dict(x=x.shape[:-1], pole=pole.shape[:-1], gain=gain.shape[:-1])
    for name, value in (("pole", pole), ("zero", zero), ("gain", gain)):
        if value is not None:
            if value.shape[-1] not in (1, x.shape[-1]):
                raise ValueError(f"{name} must be (..., T={x.shape[-1]} or 1), got shape {tuple(value.shape)}")
            batch[name] = value.shape[:-1]
    if state is not None:
        state = _signal(state, "state", finite=True)
        if state.shape[-1:] != (6,):
            raise ValueError(f"state must be (..., 6), got shape {tuple(state.shape)}")
        batch["state"] = state.shape[:-1]
    _check_batch(**batch)
    y, final = _section(x, b.to(x.dtype), pole, pole.conj(), state, backend)
    return y if state is None else (y, final)


def allpole(x: Tensor, a: Tensor, zi: Optional[Tensor] = None, *, backend: Optional[str] = None):
    r"""All-pole (LPC synthesis) filter with per-sample coefficients of any order.

    .. math::
        y[t] = x[t] - \sum_{k=1}^{M} a_k[t]\, y[t-k]

    A time-varying direct form cannot be factored into first-order modes, so
    this runs :func:`ddsp_kit.kernels.allpole_recurrence` (double-precision
    state on every backend; the adjoint is the same filter in reverse time).
    Constant coefficients are checked for stability; per-sample coefficients
    are not (a time-varying all-pole can diverge even when every sample's
    poles lie inside the unit circle: use :func:`sosfilt_tv` for guarantees).

    Args:
        x: real signal, ``(..., T)``.
        a: coefficients ``a_1..a_M`` (no leading 1), ``(..., T, M)`` or ``(..., 1, M)``.
        zi: past outputs ``y[-1], ..., y[-M]``, ``(..., M)``. When given,
            ``(y, zf)`` is returned with ``zf`` in the same layout.
        backend: kernel backend, None for automatic.

    Example:
        >>> allpole(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([[-0.5]]))
        tensor([1.0000, 0.5000, 0.2500])
    """
    x = _signal(x)
    a = _coefficients("a", a, min_dims=2, check_finite=False)  # the kernel checks its output
    if a.shape[-2] == 1:
        _check_stable("a", polynomial_roots(F.pad(a, (1, 0), value=1.0)))
    y = allpole_recurrence(x, a, zi, backend=backend)
    if zi is None:
        return y
    order = a.shape[-1]
    history = torch.cat([zi.to(y.dtype).flip(-1).expand(*y.shape[:-1], order), y], -1)
    return y, history[..., -order:].flip(-1)
