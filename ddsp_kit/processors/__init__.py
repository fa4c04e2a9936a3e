"""Thin modules over :mod:`ddsp_kit.functional`, one family per file, all on one protocol."""

from .base import Parameter, Processed, Processor, check_audio, frequency_parameter
from .dynamics import Compressor, Expander, Limiter, NoiseGate
from .filters import Biquad, DCBlocker, FIRFilter, LPCFilter, OnePole, ParametricEQ, StateVariableFilter
from .nonlinear import Asymmetric, Chebyshev, HardClip, MLPWaveshaper, Rational, Tanh, Waveshaper
from .utility import DCOffset, DryWet, Gain, Pan, Polarity

__all__ = [
    "Asymmetric",
    "Biquad",
    "Chebyshev",
    "check_audio",
    "Compressor",
    "DCBlocker",
    "DCOffset",
    "DryWet",
    "Expander",
    "FIRFilter",
    "frequency_parameter",
    "Gain",
    "HardClip",
    "Limiter",
    "LPCFilter",
    "MLPWaveshaper",
    "NoiseGate",
    "OnePole",
    "Pan",
    "Parameter",
    "ParametricEQ",
    "Polarity",
    "Processed",
    "Processor",
    "Rational",
    "StateVariableFilter",
    "Tanh",
    "Waveshaper",
]
