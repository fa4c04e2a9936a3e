"""Differentiable linear recurrences: the primitive under every recursive block.

See :mod:`ddsp_kit.kernels.recurrence` for the maths and the backends.
"""

from .recurrence import (
    BACKENDS,
    allpole_recurrence,
    available_backends,
    ballistics,
    linear_recurrence,
    matrix_recurrence,
    modal_iir,
    modal_section,
    resolve_backend,
)

__all__ = [
    "BACKENDS",
    "allpole_recurrence",
    "available_backends",
    "ballistics",
    "linear_recurrence",
    "matrix_recurrence",
    "modal_iir",
    "modal_section",
    "resolve_backend",
]
