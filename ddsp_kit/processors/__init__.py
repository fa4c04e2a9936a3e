"""Thin modules over :mod:`ddsp_kit.functional`, one family per file, all on one protocol."""

from .base import Parameter, Processed, Processor, check_audio, frequency_parameter
from .filters import Biquad, DCBlocker, FIRFilter, LPCFilter, OnePole, ParametricEQ, StateVariableFilter

__all__ = [
    "Biquad",
    "DCBlocker",
    "FIRFilter",
    "LPCFilter",
    "OnePole",
    "Parameter",
    "ParametricEQ",
    "Processed",
    "Processor",
    "StateVariableFilter",
    "check_audio",
    "frequency_parameter",
]
