"""Models: gray-box presets (chains of physical blocks) and black-box networks."""

from .presets import CONTROLS, PRESETS, amp, compressor, fuzz, overdrive

__all__ = ["CONTROLS", "PRESETS", "amp", "compressor", "fuzz", "overdrive"]
