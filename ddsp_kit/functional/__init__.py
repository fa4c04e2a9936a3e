"""Pure functions on tensors with an explicit sample rate; modules wrap them."""

from .controls import upsample_frames
from .design import BIQUAD_KINDS, ONE_POLE_KINDS, biquad_design, check_sample_rate, one_pole_design
from .filtering import allpole, biquad, lfilter, polynomial_roots, sosfilt, sosfilt_tv
from .filters import lpc_filter, one_pole_filter, reflection_to_lpc, section_filter
from .fir import fir_filter
from .svf import svf

__all__ = [
    "BIQUAD_KINDS",
    "ONE_POLE_KINDS",
    "allpole",
    "biquad",
    "biquad_design",
    "check_sample_rate",
    "fir_filter",
    "lfilter",
    "lpc_filter",
    "one_pole_design",
    "one_pole_filter",
    "polynomial_roots",
    "reflection_to_lpc",
    "section_filter",
    "sosfilt",
    "sosfilt_tv",
    "svf",
    "upsample_frames",
]
