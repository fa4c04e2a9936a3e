r"""Filters from physical parameters, with a state for streaming.

The glue between the designs (:mod:`ddsp_kit.functional.design`) and the
recursive filters (:mod:`ddsp_kit.functional.filtering`) that processors use:
each function takes Hz / Q / dB or reflection coefficients, constant or per
sample, and returns the output together with the state to pass with the next
block.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from ..kernels import linear_recurrence
from .design import Number, one_pole_design
from .filtering import _signal, allpole, lfilter, polynomial_roots, sosfilt_tv

Tensor = torch.Tensor


def one_pole_filter(
    x: Tensor, kind: str, frequency: Number, *, sample_rate: float, state: Optional[Tensor] = None
) -> Tuple[Tensor, Tensor]:
    r"""First-order low-pass, high-pass or DC blocker, :math:`y[t] = b_0 x[t] + b_1 x[t-1] - a_1 y[t-1]`.

    Runs as one real scan (:func:`ddsp_kit.kernels.linear_recurrence`) with
    per-sample coefficients when ``frequency`` varies; the pole
    :math:`-a_1` lies in (-1, 1) for every frequency in (0, Nyquist).

    Args:
        x: real signal, ``(..., T)``.
        kind: one of ``ONE_POLE_KINDS`` (see :func:`ddsp_kit.functional.one_pole_design`).
        frequency: cut-off, Hz, ``(..., T)`` or ``(..., 1)`` or a number.
        sample_rate: Hz.
        state: ``(..., 2)`` = ``[x[-1], y[-1]]`` from a previous block, zeros if None.

    Returns:
        ``(y, state)``: ``y`` ``(..., T)`` and the final ``[x[T-1], y[T-1]]``.

    Example:
        >>> y, _ = one_pole_filter(torch.ones(1, 2000), "lowpass", 1000.0, sample_rate=48000)
        >>> round(float(y[0, -1]), 5)
        1.0
    """
    x = _signal(x)
    sos = one_pole_design(kind, frequency, sample_rate=sample_rate)
    b0, b1, a1 = (sos[..., i].to(torch.promote_types(x.dtype, sos.dtype)) for i in (0, 1, 4))
    if state is None:
        state = x.new_zeros(2)
    state = _signal(state, "state", finite=True)
    if state.shape[-1:] != (2,):
        raise ValueError(f"state must be (..., 2) = [x[-1], y[-1]], got shape {tuple(state.shape)}")
    previous = torch.cat([state[..., :1].expand(*x.shape[:-1], 1), x[..., :-1]], -1)
    y = linear_recurrence(b0 * x + b1 * previous, -a1, state[..., 1])
    return y, torch.stack(torch.broadcast_tensors(x[..., -1], y[..., -1]), -1)


def section_filter(x: Tensor, sos: Tensor, state: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""A cascade of second-order sections, constant or per sample, with a modal state.

    The state is always the modal one of :func:`ddsp_kit.functional.sosfilt_tv`
    (``(..., n, 6)``: two past inputs and the two complex one-pole states), so a
    stream may switch freely between constant and per-sample coefficients and
    still equal one pass. Constant sections starting from rest (training, the
    first block) run the exact time-invariant :func:`ddsp_kit.functional.lfilter`
    (gradients from the reversed filter, not from the roots); their final
    modal state follows from the last outputs, since from rest the cascade's
    second state is real: :math:`h_2 = y[T-1]`, :math:`h_1 = y[T-1] - p_2 y[T-2]`.
    Everything else runs the modal sections.

    Args:
        x: real signal, ``(..., T)``.
        sos: ``(..., n_sections, 1 or T, 6)``.
        state: ``(..., n_sections, 6)`` from a previous block, None to start from rest.

    Returns:
        ``(y, state)``.

    Example:
        >>> sos = torch.tensor([[[1.0, 0.0, 0.0, 1.0, -0.5, 0.0]]])
        >>> section_filter(torch.tensor([1.0, 0.0, 0.0]), sos)[0]
        tensor([1.0000, 0.5000, 0.2500])
    """
    if state is not None or sos.shape[-2] > 1:
        if state is None:
            state = x.new_zeros(6)
        batch = torch.broadcast_shapes(x.shape[:-1], sos.shape[:-3], state.shape[:-2])
        return sosfilt_tv(x, sos, state.expand(*batch, sos.shape[-3], 6))
    sos = sos.squeeze(-2)
    b, a = sos[..., :3], sos[..., 3:]
    p2 = polynomial_roots(a / a[..., :1])[..., 1]
    y, finals = _signal(x), []
    for s in range(sos.shape[-2]):
        u = y
        y = lfilter(u, b[..., s, :], a[..., s, :])
        u, y = torch.broadcast_tensors(u, y)
        inputs, outputs = F.pad(u, (1, 0))[..., -2:], F.pad(y, (1, 0))[..., -2:]  # from rest: zeros before
        h1 = outputs[..., 1] - p2[..., s] * outputs[..., 0]
        finals.append(torch.stack([inputs[..., 1], inputs[..., 0], h1.real, h1.imag, outputs[..., 1], 0 * outputs[..., 1]], -1))
    return y, torch.stack(torch.broadcast_tensors(*finals), -2)


def reflection_to_lpc(reflection: Tensor) -> Tensor:
    r"""Direct-form all-pole coefficients from reflection (PARCOR) coefficients.

    The step-up recursion :math:`A_m(z) = A_{m-1}(z) + k_m z^{-m} A_{m-1}(z^{-1})`
    for :math:`A(z) = 1 + \sum_i a_i z^{-i}`: the filter :math:`1/A(z)` is
    stable exactly when every :math:`|k_m| < 1`.

    Args:
        reflection: ``(..., M)``, each in (-1, 1).

    Returns:
        ``a_1 .. a_M``, ``(..., M)``.

    Example:
        >>> reflection_to_lpc(torch.tensor([0.5, 0.25]))
        tensor([0.6250, 0.2500])
    """
    if not bool((reflection.abs() < 1).all()):
        raise ValueError("reflection coefficients must lie in (-1, 1) for a stable all-pole filter")
    a = reflection[..., :1]
    for m in range(1, reflection.shape[-1]):
        k = reflection[..., m : m + 1]
        a = torch.cat([a + k * a.flip(-1), k], -1)
    return a


def lpc_filter(x: Tensor, reflection: Tensor, state: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Time-varying all-pole (LPC synthesis) filter from reflection coefficients.

    :math:`y[t] = x[t] - \sum_i a_i[t]\, y[t-i]` with :math:`a[t]` from
    :func:`reflection_to_lpc` at every sample, on
    :func:`ddsp_kit.functional.allpole` (the DAFx-24 time-varying all-pole).

    Args:
        x: real signal, ``(..., T)``.
        reflection: ``(..., T or 1, M)``, in (-1, 1).
        state: past outputs ``y[-1] .. y[-M]``, ``(..., M)``, zeros if None.

    Returns:
        ``(y, state)``.

    Example:
        >>> y, _ = lpc_filter(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([[-0.5]]))
        >>> y
        tensor([1.0000, 0.5000, 0.2500])
    """
    a = reflection_to_lpc(reflection)
    if state is None:
        state = x.new_zeros(a.shape[-1])
    return allpole(x, a, state)
