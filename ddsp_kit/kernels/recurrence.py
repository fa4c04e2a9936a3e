"""Differentiable linear recurrences with a backend dispatch table.

Three differentiable primitives, each an ``autograd.Function`` whose backward
pass runs its adjoint on the same kernels in reverse time (so it is itself
differentiable and double backward, hence Hessian-vector products, comes for
free), and one forward-only fused filter:

``linear_recurrence``
    The first-order recurrence ``h[t] = a[t] h[t-1] + x[t]``, real or complex.
    Its adjoint is ``lam[t] = g[t] + conj(a[t+1]) lam[t+1]`` (a first-order
    recurrence in reverse time), with ``dL/dx = lam``,
    ``dL/da[t] = lam[t] conj(h[t-1])`` and ``dL/dh[-1] = conj(a[0]) lam[0]``.
    Every recursive filter of ddsp_kit is built from it in modal (complex-pole)
    form.

``allpole_recurrence``
    The order-``M`` direct-form all-pole ``y[t] = x[t] - sum_k a_k[t] y[t-k]``
    with per-sample coefficients (time-varying LPC, as in the DAFx-24 paper
    "Differentiable All-pole Filters for Time-varying Audio Systems"). A
    time-varying direct form cannot be split into first-order modes, so it has
    its own kernel. Its adjoint is the all-pole filter in reverse time with the
    coefficients delayed: ``lam[t] = g[t] - sum_k a_k[t+k] lam[t+k]``,
    ``dL/dx = lam``, ``dL/da_k[t] = -lam[t] y[t-k]``.

``modal_section``
    Two complex one-poles in cascade with per-sample poles and a real output,
    ``h1[t] = p1[t] h1[t-1] + v[t]``, ``h2[t] = p2[t] h2[t-1] + h1[t]``,
    ``y = Re h2``: the time-varying second-order section in modal form, fused
    into one pass forwards and one pass for first derivatives.

``matrix_recurrence``
    The state-space recurrence ``h[t] = A[t] h[t-1] + x[t]`` on small real
    vectors (zero-delay-feedback filters such as the TPT state-variable filter,
    whose time-varying form is not a cascade of one-poles). Its adjoint is
    ``lam[t] = g[t] + A[t+1]^T lam[t+1]``, ``dL/dx = lam``,
    ``dL/dA[t] = lam[t] h[t-1]^T``.

``ballistics``
    The branching one-pole of envelope followers and compressors,
    ``y[t] = y[t-1] + alpha[t] (x[t] - y[t-1])`` with ``alpha`` switching
    between two coefficients on whether ``x[t] > y[t-1]``. It is non-linear,
    but once the branches are known it is a linear one-pole: the forward pass
    records them (a compiled loop on numba, a fixed point of scans on torch)
    and the output is recomputed by ``linear_recurrence`` with those
    coefficients, whose adjoint gives the gradients (the torchcomp approach).

``modal_iir``
    A time-invariant IIR filter given by its FIR numerator and its poles,
    ``Re(B(z) x / prod_k (1 - p_k z^-1))``, fused into one kernel call (one
    pass per pair of poles on numba), forwards or backwards in time. Forward
    only: the differentiable time-invariant filters
    (:func:`ddsp_kit.functional.lfilter`) are built on it, since the adjoint of
    such a filter is the same filter run backwards.

Backends (``BACKENDS``): ``"numba"`` (compiled CPU loop, parallel over rows,
double-precision state) and ``"torch"`` (chunked scan in plain torch ops, any
device). ``backend=None`` picks numba for CPU tensors when it is installed,
torch otherwise.

NaN or Inf in the signal ``x`` is not checked (it would cost a pass over the
data on every call): it propagates through the state, so every output sample
from the first non-finite input onward is non-finite. Non-finite coefficients
or initial states are rejected with ``ValueError`` (per-sample coefficients are
looked at only when the output is non-finite, see ``check_coefficients_after``).
"""

from typing import Callable, NamedTuple, Optional

import torch

from . import _torch

try:
    from . import _numba
except ImportError:  # numba is optional: the torch backend runs everywhere.
    _numba = None


class Backend(NamedTuple):
    """Kernels of one backend and the device types they run on."""

    scan: Callable
    allpole: Callable
    modal: Callable
    section: Callable
    section_adjoint: Optional[Callable]  # None: composed from adjoint scans
    iir_terms: Optional[Callable]  # None: composed from modal passes and torch reductions
    matrix: Callable
    ballistics: Callable
    devices: tuple


BACKENDS = {
    "torch": Backend(
        _torch.scan, _torch.allpole, _torch.modal, _torch.section, None, None, _torch.matrix, _torch.ballistics,
        ("cpu", "cuda", "mps", "xpu"),
    )
}
if _numba is not None:
    BACKENDS["numba"] = Backend(
        _numba.scan, _numba.allpole, _numba.modal, _numba.section, _numba.section_adjoint, _numba.iir_terms,
        _numba.matrix, _numba.ballistics, ("cpu",),
    )

_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def available_backends() -> list:
    """Names of the backends that can run here."""
    return sorted(BACKENDS)


def resolve_backend(name: Optional[str], device: torch.device) -> Backend:
    """The backend called ``name`` (None: automatic) after checking it runs on ``device``."""
    if name is None:
        name = "numba" if device.type == "cpu" and "numba" in BACKENDS else "torch"
    if name not in BACKENDS:
        raise ValueError(f"backend={name!r} is not available; available: {available_backends()}")
    backend = BACKENDS[name]
    if device.type not in backend.devices:
        raise ValueError(f"backend={name!r} cannot run on device {device}")
    return backend


def _check_finite(name: str, t: torch.Tensor) -> None:
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or Inf values (shape {tuple(t.shape)})")


def check_coefficients_after(output: torch.Tensor, **coefficients: torch.Tensor) -> None:
    """Raise if any of ``coefficients`` holds NaN/Inf, looking at them only when ``output`` does.

    A non-finite coefficient always makes the output non-finite, so checking
    the (smaller) output first costs one pass over it instead of one over
    per-sample coefficients; non-finite signal samples alone pass, by design.
    """
    if not bool(torch.isfinite(output).all()):
        for name, coeffs in coefficients.items():
            _check_finite(name, coeffs)


def _prepare(x, coeffs, state, coeff_dims: int, state_size: Optional[int], backend: Optional[str]):
    """Validate, promote to a common dtype, and align dims for a primitive.

    ``coeff_dims`` counts the trailing dims of ``coeffs`` that are not batch
    (time, plus order for the all-pole). Returns ``x``, ``coeffs`` and
    ``state`` with equal batch rank, and the backend to run.
    """
    for name, t in (("x", x), ("a", coeffs), ("initial", state)):
        if t is not None and not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if x.dim() < 1:
        raise ValueError(f"x must have a time axis (last), got shape {tuple(x.shape)}")
    if coeffs.dim() < coeff_dims:
        raise ValueError(f"a must have at least {coeff_dims} dims, got shape {tuple(coeffs.shape)}")
    steps = x.shape[-1]
    time = coeffs.shape[coeffs.dim() - coeff_dims]
    if time not in (1, steps):
        raise ValueError(
            f"a has {time} time steps (shape {tuple(coeffs.shape)}) but x has {steps} "
            f"(shape {tuple(x.shape)}); use 1 for coefficients constant in time"
        )
    tensors = [t for t in (x, coeffs, state) if t is not None]
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"x, a and initial must be on one device, got {sorted(map(str, devices))}")
    kernel = resolve_backend(backend, x.device)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype} is not supported; use one of {_DTYPES}")
    batch_a = coeffs.shape[: coeffs.dim() - coeff_dims]
    try:
        batch = torch.broadcast_shapes(x.shape[:-1], batch_a)
        if state is not None:
            state_batch = state.shape if state_size is None else state.shape[:-1]
            if torch.broadcast_shapes(batch, state_batch) != batch:
                raise RuntimeError("the initial state would enlarge the batch")
    except RuntimeError:
        shapes = f"x {tuple(x.shape)}, a {tuple(coeffs.shape)}"
        if state is not None:
            shapes += f", initial {tuple(state.shape)}"
        raise ValueError(f"batch dims do not broadcast (initial must fit the batch of x and a): {shapes}") from None
    if state is None:
        shape = batch if state_size is None else (*batch, state_size)
        state = torch.zeros(shape, dtype=dtype, device=x.device)
    else:
        if state_size is not None and state.shape[-1:] != (state_size,):
            raise ValueError(
                f"initial must end with the filter order {state_size}, got shape {tuple(state.shape)}"
            )
        _check_finite("initial", state)
    x = x.to(dtype).expand(*batch, steps)
    coeffs = coeffs.to(dtype)
    coeffs = coeffs.reshape((1,) * (len(batch) - len(batch_a)) + tuple(coeffs.shape))
    state = state.to(dtype).expand((*batch, *state.shape[state.dim() - (state_size is not None):]))
    return x, coeffs, state, kernel


class _LinearRecurrence(torch.autograd.Function):
    """The recurrence (``adjoint=False``) or its adjoint, the anticausal
    ``h[t] = conj(a[t+1]) h[t+1] + x[t]`` (``adjoint=True``, zero initial
    state); each one's backward runs the other, so every order of derivative
    stays on the kernels."""

    @staticmethod
    def forward(ctx, x, a, h0, backend, adjoint):
        h = backend.scan(x, a, h0, adjoint)
        ctx.backend, ctx.adjoint = backend, adjoint
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    def backward(ctx, grad):
        a, h0, h = ctx.saved_tensors
        lam = _LinearRecurrence.apply(grad, a, torch.zeros_like(h0), ctx.backend, not ctx.adjoint)
        grad_a = grad_h0 = None
        if ctx.needs_input_grad[1]:
            if ctx.adjoint:  # h[t] gets conj(a[t+1]) h[t+1]: dL/da[s] = conj(lam[s-1]) h[s]
                grad_a = torch.cat([torch.zeros_like(lam[..., :1]), lam[..., :-1].conj() * h[..., 1:]], -1)
            else:  # h[t] gets a[t] h[t-1]: dL/da[t] = lam[t] conj(h[t-1])
                grad_a = lam * torch.cat([h0.unsqueeze(-1), h[..., :-1]], -1).conj()
            grad_a = grad_a.sum_to_size(a.shape)
        if ctx.needs_input_grad[2]:
            grad_h0 = torch.zeros_like(h0) if ctx.adjoint else a[..., 0].conj() * lam[..., 0]
        return lam, grad_a, grad_h0, None, None


class _ModalSection(torch.autograd.Function):
    """Two complex one-poles in cascade, ``y = Re h2``; returns ``(y, [h1, h2] at T-1)``.

    Backward: ``lam2[t] = g[t] + conj(p2[t+1]) lam2[t+1]``,
    ``lam1[t] = lam2[t] + conj(p1[t+1]) lam1[t+1]``, ``dL/dv = Re lam1``,
    ``dL/dp_i[t] = lam_i[t] conj(h_i[t-1])``. First derivatives take one fused
    reverse pass where the backend has one; when a graph of the backward is
    requested (higher derivatives), it is composed from differentiable scans.
    """

    @staticmethod
    def forward(ctx, v, p1, p2, s, backend):
        y, h1, h2 = backend.section(v, p1, p2, s)
        ctx.backend = backend
        ctx.save_for_backward(v, p1, p2, s, h1, h2)
        return y, torch.stack([h1[..., -1], h2[..., -1]], -1)

    @staticmethod
    def backward(ctx, grad_y, grad_end):
        v, p1, p2, s, h1, h2 = ctx.saved_tensors
        backend = ctx.backend
        if backend.section_adjoint is not None and not torch.is_grad_enabled():
            grad_v, grad_p1, grad_p2, grad_s = backend.section_adjoint(grad_y, grad_end, p1, p2, s, h1, h2)
        else:
            if torch.is_grad_enabled():  # recompute the states as functions of the inputs
                h1 = _LinearRecurrence.apply(v.to(s.dtype), p1, s[..., 0], backend, False)
                h2 = _LinearRecurrence.apply(h1, p2, s[..., 1], backend, False)
            zero = torch.zeros_like(s[..., 0])

            def at_end(value):  # the final state's cotangent enters at the last sample
                return torch.cat([torch.zeros_like(h1[..., :-1]), value.unsqueeze(-1)], -1)

            lam2 = _LinearRecurrence.apply(grad_y.to(h1.dtype) + at_end(grad_end[..., 1]), p2, zero, backend, True)
            lam1 = _LinearRecurrence.apply(lam2 + at_end(grad_end[..., 0]), p1, zero, backend, True)
            grad_v = lam1.real
            grad_p1 = lam1 * torch.cat([s[..., :1], h1[..., :-1]], -1).conj()
            grad_p2 = lam2 * torch.cat([s[..., 1:], h2[..., :-1]], -1).conj()
            grad_s = torch.stack([p1[..., 0].conj() * lam1[..., 0], p2[..., 0].conj() * lam2[..., 0]], -1)
        return (
            grad_v.to(v.dtype).sum_to_size(v.shape),
            grad_p1.sum_to_size(p1.shape),
            grad_p2.sum_to_size(p2.shape),
            grad_s.sum_to_size(s.shape),
            None,
        )


class _AllPoleRecurrence(torch.autograd.Function):
    """The all-pole (``adjoint=False``) or its adjoint, the anticausal
    ``y[t] = x[t] - sum_k a_k[t+k] y[t+k]`` (``adjoint=True``, zero state);
    each one's backward runs the other."""

    @staticmethod
    def forward(ctx, x, a, zi, backend, adjoint):
        y = backend.allpole(x, a, zi, adjoint)
        ctx.backend, ctx.adjoint = backend, adjoint
        ctx.save_for_backward(a, zi, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        a, zi, y = ctx.saved_tensors
        steps, order = y.shape[-1], a.shape[-1]
        lam = _AllPoleRecurrence.apply(grad, a, torch.zeros_like(zi), ctx.backend, not ctx.adjoint)
        grad_a = grad_zi = None
        if ctx.needs_input_grad[1]:
            if ctx.adjoint:  # y[t] gets -a_k[s] y[s] at s = t+k: dL/da_k[s] = -y[s] lam[s-k]
                past = torch.cat([torch.zeros_like(zi), lam], -1).unfold(-1, order, 1)[..., :steps, :].flip(-1)
                grad_a = -y.unsqueeze(-1) * past
            else:  # y[t] gets -a_k[t] y[t-k]: dL/da_k[t] = -lam[t] y[t-k], y[-1..-M] from zi
                past = torch.cat([zi.flip(-1), y], -1).unfold(-1, order, 1)[..., :steps, :].flip(-1)
                grad_a = -lam.unsqueeze(-1) * past
            grad_a = grad_a.sum_to_size(a.shape)
        if ctx.needs_input_grad[2]:
            if ctx.adjoint:
                grad_zi = torch.zeros_like(zi)
            else:
                # y[-1-j] feeds y[t] through a_k[t] with t - k = -1 - j (t < order).
                head = min(order, steps)
                coef = a[..., :head, :] if a.shape[-2] > 1 else a
                weighted = coef * lam[..., :head, None]  # (..., t, k-1)
                grad_zi = torch.stack(
                    [-torch.diagonal(weighted, offset=j, dim1=-2, dim2=-1).sum(-1) for j in range(order)], -1
                )
        return lam, grad_a, grad_zi, None, None


class _MatrixRecurrence(torch.autograd.Function):
    """``h[t] = A[t] h[t-1] + x[t]`` (``adjoint=False``) or the anticausal
    ``h[t] = A[t+1]^T h[t+1] + x[t]`` (``adjoint=True``, zero state); each
    one's backward runs the other."""

    @staticmethod
    def forward(ctx, x, a, h0, backend, adjoint):
        h = backend.matrix(x, a, h0, adjoint)
        ctx.backend, ctx.adjoint = backend, adjoint
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    def backward(ctx, grad):
        a, h0, h = ctx.saved_tensors
        lam = _MatrixRecurrence.apply(grad, a, torch.zeros_like(h0), ctx.backend, not ctx.adjoint)
        grad_a = grad_h0 = None
        if ctx.needs_input_grad[1]:
            if ctx.adjoint:  # h[s-1] gets A[s]^T h[s]: dL/dA[s] = h[s] lam[s-1]^T
                grad_a = h[..., 1:, :, None] * lam[..., :-1, None, :]
                grad_a = torch.cat([torch.zeros_like(grad_a[..., :1, :, :]), grad_a], -3)
            else:  # h[t] gets A[t] h[t-1]: dL/dA[t] = lam[t] h[t-1]^T
                past = torch.cat([h0.unsqueeze(-2), h[..., :-1, :]], -2)
                grad_a = lam[..., :, None] * past[..., None, :]
            grad_a = grad_a.sum_to_size(a.shape)
        if ctx.needs_input_grad[2]:
            if ctx.adjoint:
                grad_h0 = torch.zeros_like(h0)
            else:
                grad_h0 = (a[..., 0, :, :].transpose(-1, -2) @ lam[..., 0, :, None]).squeeze(-1)
        return lam, grad_a, grad_h0, None, None


def _run(function, x, a, state, kernel: Backend, check_finite: bool) -> torch.Tensor:
    """Apply a recurrence ``function`` forwards in time to prepared inputs."""
    if x.shape[-1] == 0:
        return x.clone()
    out = function.apply(x, a, state, kernel, False)
    if check_finite:
        check_coefficients_after(out, a=a)
    return out


def linear_recurrence(
    x: torch.Tensor,
    a: torch.Tensor,
    initial: Optional[torch.Tensor] = None,
    *,
    backend: Optional[str] = None,
    check_finite: bool = True,
) -> torch.Tensor:
    r"""First-order linear recurrence :math:`h[t] = a[t]\,h[t-1] + x[t]`.

    Args:
        x: input, ``(..., T)``; real or complex.
        a: coefficients, ``(..., T)`` per sample or ``(..., 1)`` constant in
            time; leading dims broadcast against ``x`` (never materialised).
        initial: state ``h[-1]``, broadcastable to the batch shape; zero if None.
        backend: ``"numba"``, ``"torch"`` or None (automatic).
        check_finite: reject NaN/Inf in ``a`` (looked at only when the output
            is non-finite); callers that validated ``a`` already skip it.

    Returns:
        ``h`` of shape ``(*batch, T)`` in the promoted dtype of the inputs;
        the final state is ``h[..., -1]``.

    Shape:
        batch is the broadcast of ``x.shape[:-1]``, ``a.shape[:-1]`` and
        ``initial.shape``.

    Example:
        >>> x = torch.tensor([1.0, 0.0, 0.0, 1.0])
        >>> linear_recurrence(x, torch.tensor([0.5]))
        tensor([1.0000, 0.5000, 0.2500, 1.1250])
    """
    if isinstance(a, torch.Tensor) and a.dim() == 0:
        a = a.reshape(1)
    x, a, h0, kernel = _prepare(x, a, initial, coeff_dims=1, state_size=None, backend=backend)
    return _run(_LinearRecurrence, x, a, h0, kernel, check_finite)


def modal_section(
    v: torch.Tensor,
    p1: torch.Tensor,
    p2: torch.Tensor,
    initial: Optional[torch.Tensor] = None,
    *,
    backend: Optional[str] = None,
):
    r"""Second-order modal section: two complex one-poles in cascade, real output.

    .. math::
        h_1[t] = p_1[t] h_1[t-1] + v[t],\quad h_2[t] = p_2[t] h_2[t-1] + h_1[t],\quad y[t] = \mathrm{Re}\,h_2[t]

    With constant poles ``p2 = conj(p1)`` (or two real poles) this is the
    all-pole biquad :math:`1 / ((1 - p_1 z^{-1})(1 - p_2 z^{-1}))`; with moving
    poles it stays stable whenever ``|p1|, |p2| < 1`` at every sample. One
    fused pass forwards and one backwards on numba.

    Args:
        v: real input, ``(..., T)``.
        p1, p2: complex poles, ``(..., T)`` per sample or ``(..., 1)``.
        initial: complex states ``[h1[-1], h2[-1]]``, ``(..., 2)``; zero if None.
        backend: ``"numba"``, ``"torch"`` or None (automatic).

    Returns:
        ``(y, final)``: ``y`` ``(*batch, T)`` real, ``final`` ``(*batch, 2)`` complex.

    Example:
        >>> y, final = modal_section(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.5j]), torch.tensor([-0.5j]))
        >>> y
        tensor([ 1.0000,  0.0000, -0.2500])
    """
    if not isinstance(v, torch.Tensor) or v.dtype not in (torch.float32, torch.float64) or v.dim() < 1:
        raise ValueError("v must be a float32 or float64 tensor (..., T)")
    complex_dtype = torch.complex64 if v.dtype == torch.float32 else torch.complex128
    steps = v.shape[-1]
    for name, pole in (("p1", p1), ("p2", p2)):
        if not isinstance(pole, torch.Tensor) or not pole.is_complex() or pole.dim() < 1:
            raise ValueError(f"{name} must be a complex tensor (..., T or 1)")
        if pole.shape[-1] not in (1, steps):
            raise ValueError(f"{name} has {pole.shape[-1]} time steps (shape {tuple(pole.shape)}), x has {steps}")
    if initial is not None and (not initial.is_complex() or initial.shape[-1:] != (2,)):
        raise ValueError(f"initial must be a complex tensor (..., 2), got {initial.dtype} {tuple(initial.shape)}")
    if len({t.device for t in (v, p1, p2) if t is not None}) > 1:
        raise ValueError("v, p1 and p2 must be on one device")
    kernel = resolve_backend(backend, v.device)
    try:
        batch = torch.broadcast_shapes(
            v.shape[:-1], p1.shape[:-1], p2.shape[:-1], () if initial is None else initial.shape[:-1]
        )
    except RuntimeError:
        raise ValueError(
            f"batch dims do not broadcast: v {tuple(v.shape)}, p1 {tuple(p1.shape)}, p2 {tuple(p2.shape)}"
            + ("" if initial is None else f", initial {tuple(initial.shape)}")
        ) from None
    if initial is None:
        initial = torch.zeros(*batch, 2, dtype=complex_dtype, device=v.device)
    else:
        _check_finite("initial", initial)

    def align(t):
        return t.to(complex_dtype).reshape((1,) * (len(batch) + 1 - t.dim()) + tuple(t.shape))

    if steps == 0:
        return v.new_zeros(*batch, 0), initial.to(complex_dtype).expand(*batch, 2)
    y, final = _ModalSection.apply(
        v.expand(*batch, steps), align(p1), align(p2), initial.to(complex_dtype).expand(*batch, 2), kernel
    )
    check_coefficients_after(y, p1=p1, p2=p2)
    return y, final


def allpole_recurrence(
    x: torch.Tensor,
    a: torch.Tensor,
    initial: Optional[torch.Tensor] = None,
    *,
    backend: Optional[str] = None,
    check_finite: bool = True,
) -> torch.Tensor:
    r"""Direct-form all-pole recurrence :math:`y[t] = x[t] - \sum_{k=1}^{M} a_k[t]\,y[t-k]`.

    Args:
        x: input, ``(..., T)``, real.
        a: coefficients ``a_1..a_M`` (without the leading 1), ``(..., T, M)``
            per sample or ``(..., 1, M)`` constant in time.
        initial: past outputs ``y[-1], ..., y[-M]``, ``(..., M)``; zero if None.
        backend: ``"numba"``, ``"torch"`` or None (automatic).
        check_finite: reject NaN/Inf in ``a`` (looked at only when the output
            is non-finite); callers that validated ``a`` already skip it.

    Returns:
        ``y`` of shape ``(*batch, T)``. The state to carry into the next block
        is ``y[..., -1:-M-1:-1]`` (see :func:`ddsp_kit.functional.allpole`).

    Example:
        >>> allpole_recurrence(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([[-0.5]]))
        tensor([1.0000, 0.5000, 0.2500])
    """
    order = a.shape[-1] if isinstance(a, torch.Tensor) and a.dim() else None
    if order == 0:
        raise ValueError(f"a must hold at least one coefficient (order >= 1), got shape {tuple(a.shape)}")
    x, a, zi, kernel = _prepare(x, a, initial, coeff_dims=2, state_size=order, backend=backend)
    if x.is_complex():
        raise ValueError("allpole_recurrence takes real signals and coefficients; use linear_recurrence for complex")
    return _run(_AllPoleRecurrence, x, a, zi, kernel, check_finite)


def matrix_recurrence(
    x: torch.Tensor,
    a: torch.Tensor,
    initial: Optional[torch.Tensor] = None,
    *,
    backend: Optional[str] = None,
) -> torch.Tensor:
    r"""State-space recurrence :math:`h[t] = A[t]\,h[t-1] + x[t]` on real ``N``-vectors.

    Args:
        x: real input, ``(..., T, N)``.
        a: real transition matrices, ``(..., T, N, N)`` per sample or
            ``(..., 1, N, N)`` constant in time; leading dims broadcast against ``x``.
        initial: state ``h[-1]``, ``(..., N)``; zero if None.
        backend: ``"numba"``, ``"torch"`` or None (automatic).

    Returns:
        ``h`` of shape ``(*batch, T, N)``; the final state is ``h[..., -1, :]``.

    Example:
        >>> rotate = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]])
        >>> matrix_recurrence(torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), rotate)
        tensor([[ 1.,  0.],
                [ 0.,  1.],
                [-1.,  0.]])
    """
    for name, t in (("x", x), ("a", a), ("initial", initial)):
        if t is not None and (not isinstance(t, torch.Tensor) or t.dtype not in (torch.float32, torch.float64)):
            raise ValueError(f"{name} must be a float32 or float64 tensor")
    if x.dim() < 2 or a.dim() < 3:
        raise ValueError(f"x must be (..., T, N) and a (..., T or 1, N, N), got {tuple(x.shape)} and {tuple(a.shape)}")
    steps, n = x.shape[-2:]
    if a.shape[-2:] != (n, n) or a.shape[-3] not in (1, steps):
        raise ValueError(f"a must be (..., T={steps} or 1, {n}, {n}) for x {tuple(x.shape)}, got {tuple(a.shape)}")
    if initial is not None and initial.shape[-1:] != (n,):
        raise ValueError(f"initial must be (..., {n}), got {tuple(initial.shape)}")
    try:
        batch = torch.broadcast_shapes(x.shape[:-2], a.shape[:-3], () if initial is None else initial.shape[:-1])
    except RuntimeError:
        raise ValueError(f"batch dims do not broadcast: x {tuple(x.shape)}, a {tuple(a.shape)}") from None
    if len({t.device for t in (x, a, initial) if t is not None}) > 1:
        raise ValueError("x, a and initial must be on one device")
    kernel = resolve_backend(backend, x.device)
    dtype = torch.promote_types(x.dtype, a.dtype)
    if initial is None:
        initial = torch.zeros(*batch, n, dtype=dtype, device=x.device)
    else:
        _check_finite("initial", initial)
    if steps == 0:
        return x.new_zeros(*batch, 0, n)
    a = a.to(dtype).reshape((1,) * (len(batch) + 3 - a.dim()) + tuple(a.shape))
    h = _MatrixRecurrence.apply(x.to(dtype).expand(*batch, steps, n), a, initial.to(dtype).expand(*batch, n), kernel, False)
    check_coefficients_after(h, a=a)
    return h


def ballistics(
    x: torch.Tensor,
    up: torch.Tensor,
    down: torch.Tensor,
    initial: Optional[torch.Tensor] = None,
    *,
    backend: Optional[str] = None,
) -> torch.Tensor:
    r"""Branching one-pole: :math:`y[t] = y[t-1] + \alpha[t]\,(x[t] - y[t-1])` with
    :math:`\alpha[t] = \alpha_\uparrow[t]` where :math:`x[t] > y[t-1]`, else :math:`\alpha_\downarrow[t]`.

    The attack/release smoother of envelope followers and compressors. The
    branch taken at each sample is recorded without gradients, then ``y`` is
    the linear one-pole with those coefficients (:func:`linear_recurrence`), so
    gradients reach ``x``, ``up``, ``down`` and ``initial`` exactly almost
    everywhere (the branch pattern is piecewise constant in the inputs).

    Args:
        x: real input, ``(..., T)``.
        up: smoothing coefficient in (0, 1] while rising, ``(..., T)`` or ``(..., 1)``.
        down: the same while falling or equal.
        initial: ``y[-1]``, broadcastable to the batch; zero if None.
        backend: ``"numba"``, ``"torch"`` or None (automatic).

    Returns:
        ``y`` of shape ``(*batch, T)``; the state to carry on is ``y[..., -1]``.

    Example:
        >>> ballistics(torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([0.5]), torch.tensor([0.25]))
        tensor([0.5000, 0.7500, 0.5625, 0.4219])
    """
    for name, coefficient in (("up", up), ("down", down)):
        if not isinstance(coefficient, torch.Tensor) or coefficient.dim() < 1 or coefficient.is_complex():
            raise ValueError(f"{name} must be a real tensor (..., T or 1)")
        if not bool(((coefficient > 0) & (coefficient <= 1)).all()):
            raise ValueError(f"{name} must lie in (0, 1] (a stable, causal smoother)")
    x, up, y0, kernel = _prepare(x, up, initial, coeff_dims=1, state_size=None, backend=backend)
    if x.is_complex():
        raise ValueError("ballistics takes real signals")
    x, down, y0, _ = _prepare(x, down, y0, coeff_dims=1, state_size=None, backend=backend)
    up = up.reshape((1,) * (x.dim() - up.dim()) + tuple(up.shape))  # down may have widened the batch
    if x.shape[-1] == 0:
        return x.clone()
    with torch.no_grad():
        _, rising = kernel.ballistics(x.detach(), up.detach(), down.detach(), y0.detach())
    alpha = torch.where(rising, up, down)
    return _run(_LinearRecurrence, alpha * x, 1 - alpha, y0, kernel, check_finite=False)


def modal_iir(
    x: torch.Tensor,
    b: torch.Tensor,
    poles: torch.Tensor,
    *,
    reverse: bool = False,
    backend: Optional[str] = None,
) -> torch.Tensor:
    r"""Time-invariant IIR filter :math:`\mathrm{Re}\,[B(z) / \prod_k (1 - p_k z^{-1})]`
    applied to ``x`` from a zero state, in modal form.

    With ``poles`` closed under conjugation and real ``b`` this is the real
    filter :math:`B(z)/A(z)`, accurate for poles near the unit circle. With
    ``reverse`` it runs backwards in time (the anticausal filter, i.e. the
    adjoint). Not differentiable (inputs must not require grad):
    :func:`ddsp_kit.functional.lfilter` differentiates through it.

    Args:
        x: real input, ``(..., T)``.
        b: real FIR numerator, ``(..., nb)``.
        poles: complex poles, ``(..., K)`` (``K`` may be 0).
        reverse: run from the last sample to the first.
        backend: ``"numba"`` (one pass per pair of poles, complex128 state), ``"torch"``
            (one scan per pole) or None. Leading dims of all three broadcast.

    Example:
        >>> modal_iir(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([1.0]), torch.tensor([0.5j, -0.5j]))
        tensor([ 1.0000,  0.0000, -0.2500])
    """
    for name, t, kind in (("x", x, "real"), ("b", b, "real"), ("poles", poles, "complex")):
        if not isinstance(t, torch.Tensor) or t.dim() < 1 or t.is_complex() != (kind == "complex"):
            raise ValueError(f"{name} must be a {kind} tensor with at least one dim")
        if torch.is_grad_enabled() and t.requires_grad:
            raise ValueError("modal_iir is forward-only; use ddsp_kit.functional.lfilter for gradients")
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"x must be float32 or float64, got {x.dtype}")
    if len({x.device, b.device, poles.device}) > 1:
        raise ValueError(f"x, b and poles must be on one device, got {x.device}, {b.device}, {poles.device}")
    kernel = resolve_backend(backend, x.device)
    _check_finite("b", b)
    _check_finite("poles", poles)
    try:
        batch = torch.broadcast_shapes(x.shape[:-1], b.shape[:-1], poles.shape[:-1])
    except RuntimeError:
        shapes = f"x {tuple(x.shape)}, b {tuple(b.shape)}, poles {tuple(poles.shape)}"
        raise ValueError(f"batch dims do not broadcast: {shapes}") from None

    def align(t):
        return t.reshape((1,) * (len(batch) + 1 - t.dim()) + tuple(t.shape))

    if x.shape[-1] == 0:
        return x.new_zeros(*batch, 0)
    return kernel.modal(x.expand(*batch, x.shape[-1]), align(b), align(poles), reverse)
