"""Independent per-sample references shared by the test modules."""

import numpy as np


def modal_section_reference(x, b, p1, p2):
    """Per-sample float64 loop of the modal time-varying section (sosfilt_tv's definition)."""
    h1 = h2 = 0j
    x1 = x2 = 0.0
    out = np.empty(len(x))
    for t in range(len(x)):
        v = b[t, 0] * x[t] + b[t, 1] * x1 + b[t, 2] * x2
        x2, x1 = x1, x[t]
        h1 = p1[t] * h1 + v
        h2 = p2[t] * h2 + h1
        out[t] = h2.real
    return out
