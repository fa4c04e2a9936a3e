"""Pure functions on tensors with an explicit sample rate; modules wrap them."""

from .controls import upsample_frames
from .design import BIQUAD_KINDS, ONE_POLE_KINDS, biquad_design, one_pole_design
from .filtering import allpole, biquad, lfilter, polynomial_roots, sosfilt, sosfilt_tv

__all__ = [
    "BIQUAD_KINDS",
    "ONE_POLE_KINDS",
    "allpole",
    "biquad",
    "biquad_design",
    "lfilter",
    "one_pole_design",
    "polynomial_roots",
    "sosfilt",
    "sosfilt_tv",
    "upsample_frames",
]
