"""Models: gray-box presets (chains of physical blocks) and black-box networks."""

from .conditioning import MODULATIONS, FiLM, TFiLM
from .presets import CONTROLS, PRESETS, amp, compressor, fuzz, hybrid, overdrive, pedals, reverb, with_output_fir
from .recurrent import RecurrentModel
from .ssm import S4DLayer, S4DModel
from .tcn import TCN

__all__ = [
    "CONTROLS",
    "FiLM",
    "MODULATIONS",
    "PRESETS",
    "RecurrentModel",
    "S4DLayer",
    "S4DModel",
    "TCN",
    "TFiLM",
    "amp",
    "compressor",
    "fuzz",
    "hybrid",
    "overdrive",
    "pedals",
    "reverb",
    "with_output_fir",
]
