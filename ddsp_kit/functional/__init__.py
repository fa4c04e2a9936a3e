"""Pure functions on tensors with an explicit sample rate; modules wrap them."""

from .filtering import allpole, biquad, lfilter, polynomial_roots, sosfilt, sosfilt_tv

__all__ = ["allpole", "biquad", "lfilter", "polynomial_roots", "sosfilt", "sosfilt_tv"]
