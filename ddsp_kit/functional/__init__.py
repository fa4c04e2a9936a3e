"""Pure functions on tensors with an explicit sample rate; modules wrap them."""

from .controls import upsample_frames
from .delay import INTERPOLATIONS, MIN_DELAY, feedback_comb, fractional_delay
from .design import BIQUAD_KINDS, ONE_POLE_KINDS, biquad_design, check_sample_rate, one_pole_design
from .dynamics import amplitude_to_db, attack_release, dynamics, gain_curve, peak_level, rms_level, smoothing_coefficient
from .filtering import allpole, biquad, lfilter, polynomial_roots, sosfilt, sosfilt_tv
from .filters import lpc_filter, one_pole_filter, reflection_to_lpc, section_filter
from .fir import fir_filter
from .modulation import LFO_SHAPES, allpass_cascade, allpass_coefficient, lfo, tremolo
from .nonlinear import biased_tanh, chebyshev, downsample2, hard_clip, oversample, oversampling_latency, rational, soft_clip, upsample2
from .reverb import (
    CROSSOVER_OCTAVES,
    NetworkState,
    PartitionedState,
    absorption_design,
    band_noise,
    default_delays,
    feedback_delay_network,
    mixing_matrix,
    noise_reverb_ir,
    orthogonal_matrix,
    partitioned_convolution,
)
from .svf import svf
from .utility import db_to_gain, dc_offset, delay, dry_wet, gain, pan, polarity

__all__ = [
    "INTERPOLATIONS",
    "LFO_SHAPES",
    "MIN_DELAY",
    "allpass_cascade",
    "allpass_coefficient",
    "feedback_comb",
    "fractional_delay",
    "lfo",
    "tremolo",
    "CROSSOVER_OCTAVES",
    "NetworkState",
    "PartitionedState",
    "absorption_design",
    "band_noise",
    "default_delays",
    "feedback_delay_network",
    "mixing_matrix",
    "noise_reverb_ir",
    "orthogonal_matrix",
    "partitioned_convolution",
    "BIQUAD_KINDS",
    "ONE_POLE_KINDS",
    "allpole",
    "amplitude_to_db",
    "attack_release",
    "biased_tanh",
    "biquad",
    "biquad_design",
    "check_sample_rate",
    "chebyshev",
    "db_to_gain",
    "dc_offset",
    "delay",
    "downsample2",
    "dry_wet",
    "dynamics",
    "fir_filter",
    "gain",
    "gain_curve",
    "hard_clip",
    "lfilter",
    "lpc_filter",
    "one_pole_design",
    "one_pole_filter",
    "oversample",
    "oversampling_latency",
    "pan",
    "peak_level",
    "polarity",
    "polynomial_roots",
    "rational",
    "reflection_to_lpc",
    "rms_level",
    "section_filter",
    "smoothing_coefficient",
    "soft_clip",
    "sosfilt",
    "sosfilt_tv",
    "svf",
    "upsample2",
    "upsample_frames",
]
