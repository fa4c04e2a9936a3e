"""Thin modules over :mod:`ddsp_kit.functional`, one family per file, all on one protocol."""

from .base import Parameter, Processed, Processor, check_audio, frequency_parameter
from .delay import FeedbackComb, FractionalDelay
from .dynamics import Compressor, Expander, Limiter, NoiseGate
from .filters import Biquad, DCBlocker, FIRFilter, LPCFilter, OnePole, ParametricEQ, StateVariableFilter
from .modulation import Chorus, Flanger, Phaser, Tremolo
from .noise import FilteredNoise, WhiteNoise
from .nonlinear import Asymmetric, Chebyshev, HardClip, MLPWaveshaper, Rational, Tanh, Waveshaper
from .oscillators import ADSR, HarmonicSynth, Sawtooth, Sine, Square, Triangle, Wavetable
from .reverb import MIXINGS, ConvolutionReverb, FeedbackDelayNetwork, NoiseReverb
from .utility import DCOffset, DryWet, Gain, Pan, Polarity

__all__ = [
    "ADSR",
    "Asymmetric",
    "Biquad",
    "Chebyshev",
    "check_audio",
    "Chorus",
    "Compressor",
    "ConvolutionReverb",
    "DCBlocker",
    "DCOffset",
    "DryWet",
    "Expander",
    "FeedbackComb",
    "FeedbackDelayNetwork",
    "FilteredNoise",
    "FIRFilter",
    "Flanger",
    "FractionalDelay",
    "frequency_parameter",
    "Gain",
    "HardClip",
    "HarmonicSynth",
    "Limiter",
    "LPCFilter",
    "MIXINGS",
    "MLPWaveshaper",
    "NoiseGate",
    "NoiseReverb",
    "OnePole",
    "Pan",
    "Parameter",
    "ParametricEQ",
    "Phaser",
    "Polarity",
    "Processed",
    "Processor",
    "Rational",
    "Sawtooth",
    "Sine",
    "Square",
    "StateVariableFilter",
    "Tanh",
    "Tremolo",
    "Triangle",
    "Waveshaper",
    "Wavetable",
    "WhiteNoise",
]
