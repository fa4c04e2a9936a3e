"""Thin modules over :mod:`ddsp_kit.functional`, one family per file, all on one protocol."""

from .base import Parameter, Processed, Processor, check_audio, frequency_parameter

__all__ = ["Parameter", "Processed", "Processor", "check_audio", "frequency_parameter"]
