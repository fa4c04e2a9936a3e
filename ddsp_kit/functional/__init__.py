"""Pure functions on tensors with an explicit sample rate; modules wrap them."""

from .design import BIQUAD_KINDS, biquad_design
from .filtering import allpole, biquad, lfilter, polynomial_roots, sosfilt, sosfilt_tv

__all__ = [
    "BIQUAD_KINDS",
    "allpole",
    "biquad",
    "biquad_design",
    "lfilter",
    "polynomial_roots",
    "sosfilt",
    "sosfilt_tv",
]
