r"""Reverbs on the processor protocol: a learnable impulse response, DDSP noise reverb, feedback delay network.

Thin modules over :mod:`ddsp_kit.functional.reverb`. Each mixes its wet
signal with the input by ``mix`` (:func:`ddsp_kit.functional.dry_wet`, which
may move per sample); the parameters that shape the reverb itself must be
static over a block (one value per block, per batch row and channel), since
an impulse response or a loop gain has no per-sample meaning. The two
convolution reverbs share one path: one FFT convolution for a block without
state (training), the zero-latency uniformly partitioned convolution when
streaming (:func:`ddsp_kit.functional.partitioned_convolution`); the state is
its frequency-domain delay line. Decay times are RT60s in seconds (time to
fall by 60 dB) on a log scale.
"""

import math
from typing import Dict, Mapping, Optional, Sequence

import torch
from torch import nn

from ..functional.reverb import (
    NetworkState,
    PartitionedState,
    absorption_design,
    band_noise,
    decay_time,
    default_delays,
    feedback_delay_network,
    mixing_matrix,
    noise_reverb_ir,
    orthogonal_matrix,
    partitioned_convolution,
)
from ..functional.utility import dry_wet
from .base import Parameter, Processor, State, frequency_parameter

Tensor = torch.Tensor

MIXINGS = ("householder", "hadamard", "learnable")


def _mix(default: float) -> Parameter:
    return Parameter("mix", "", 0.0, 1.0, default)


def _rt60(name: str, default: float) -> Parameter:
    return Parameter(name, "s", 0.02, 20.0, default, scale="log", static=True)


def _unpack(kind, state: State):
    """The functional state ``kind`` from a processor state dict, None when empty."""
    if not state:
        return None
    if set(state) != set(kind._fields):
        raise ValueError(f"state must hold {list(kind._fields)} (a previous block's state), got {sorted(state)}")
    return kind(**state)


def _length(sample_rate: float, duration: float, length: Optional[int]) -> int:
    """IR length in samples: ``length`` when given, else ``duration`` seconds."""
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be an int >= 1 samples, got {length!r}")
        return length
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 < duration < math.inf:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    return max(1, round(duration * sample_rate))


class _Convolution(Processor):
    """Shared by the convolution reverbs: ``impulse_response(params)``, partitioned convolution, dry/wet."""

    def __init__(self, sample_rate: float, parameters: Sequence[Parameter], initial: Mapping[str, float], partition: int):
        super().__init__(sample_rate, parameters, initial)
        if isinstance(partition, bool) or not isinstance(partition, int) or partition < 1:
            raise ValueError(f"partition must be an int >= 1 samples, got {partition!r}")
        self.partition = partition

    def impulse_response(self, params: Dict[str, Tensor]) -> Tensor:
        """The IR, ``(L,)`` or ``(batch or 1, channels or 1, L)``, for physical ``params``."""
        raise NotImplementedError(f"{type(self).__name__} must implement impulse_response()")

    def process(self, x, params, state):
        ir = self.impulse_response(params)
        if ir.dim() > 1 and ir.shape[-2] not in (1, x.shape[1]) and x.shape[1] != 1:
            raise ValueError(f"an impulse response with {ir.shape[-2]} channels does not fit audio with {x.shape[1]}")
        wet, final = partitioned_convolution(x, ir, self.partition, _unpack(PartitionedState, state))
        return dry_wet(x, wet, params["mix"]).to(x.dtype), final._asdict()


class ConvolutionReverb(_Convolution):
    r"""Convolution with a learnable impulse response, mixed with the dry signal.

    The IR is an ordinary learnable tensor, one shared by every channel or one
    per channel (a mono input with a multi-channel IR gives that many
    channels). Its decay time is read off the learned IR by
    :meth:`decay_time`. Without ``ir`` it starts as exponentially decaying white noise
    (:func:`ddsp_kit.functional.noise_reverb_ir` with one band) of RT60
    ``decay``: ``(L,)`` from ``seed`` for one channel, ``(channels, L)`` with
    channel ``c`` from seed ``seed + c`` for more (a stereo reverb's two
    sides are not one IR).

    Args:
        sample_rate: Hz.
        ir: initial impulse response, ``(L,)`` or ``(channels, L)``; None for decaying noise.
        duration: length of the noise IR, s (when ``ir`` and ``length`` are None).
        length: length of the noise IR, samples (replaces ``duration``).
        decay: RT60 of the noise IR, s.
        seed: seed of the noise IR.
        channels: channels of the noise IR, an int >= 1.
        partition: partition size when streaming, samples (cost per block
            against cost per sample; no latency either way).
        mix: initial wet proportion in [0, 1].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> reverb = ConvolutionReverb(48000, torch.tensor([0.0, 0.0, 1.0]), mix=1.0)
        >>> reverb(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])).audio.detach().round(decimals=4)
        tensor([[[0., 0., 1., 2.]]])
    """

    def __init__(
        self,
        sample_rate: float,
        ir: Optional[Tensor] = None,
        duration: float = 0.5,
        length: Optional[int] = None,
        decay: float = 0.5,
        seed: int = 0,
        channels: int = 1,
        partition: int = 256,
        mix: float = 0.3,
    ):
        super().__init__(sample_rate, [_mix(0.3)], {"mix": mix}, partition)
        if ir is None:
            if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < math.inf:
                raise ValueError(f"decay must be a positive number of seconds, got {decay!r}")
            if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
                raise ValueError(f"channels must be an int >= 1, got {channels!r}")
            length = _length(self.sample_rate, duration, length)
            decays, levels = torch.tensor([float(decay)]), torch.zeros(1)
            rows = [noise_reverb_ir(band_noise(length, [], self.sample_rate, seed + c), decays, levels, self.sample_rate) for c in range(channels)]
            ir = torch.stack(rows).float() if channels > 1 else rows[0].float()
        if not isinstance(ir, Tensor) or ir.dim() not in (1, 2) or ir.shape[-1] == 0 or not ir.is_floating_point():
            raise ValueError("ir must be a float tensor (L,) or (channels, L) with L >= 1")
        if not bool(torch.isfinite(ir).all()):
            raise ValueError("ir holds NaN or Inf values")
        self.ir = nn.Parameter(ir.detach().clone())

    def impulse_response(self, params):
        return self.ir

    def decay_time(self, start_db: float = -5.0, end_db: float = -25.0) -> Tensor:
        """RT60 of the learned IR, s, one per IR channel (:func:`ddsp_kit.functional.decay_time`, T20 by default)."""
        with torch.no_grad():
            return decay_time(self.ir, self.sample_rate, start_db, end_db)


class NoiseReverb(_Convolution):
    r"""DDSP noise reverb: band-filtered noise with a decay time and a level per band.

    The IR is fixed-seed white noise split into bands at ``crossovers``
    (:func:`ddsp_kit.functional.band_noise`), each band decaying exponentially
    (:func:`ddsp_kit.functional.noise_reverb_ir`), so it is a differentiable
    function of ``2 * bands + 1`` parameters: ``band{i}_rt60`` (s, log scale,
    [0.02, 20], default 1), ``band{i}_level_db`` (dB, [-60, 12], default 0)
    for ``i = 1 .. len(crossovers) + 1``, and ``mix``. The noise is rebuilt
    from ``seed`` (not stored); decays longer than ``duration`` are cut off.

    Args:
        sample_rate: Hz.
        duration: IR length, s.
        crossovers: band edges, Hz, increasing, below Nyquist.
        seed: seed of the noise.
        partition: partition size when streaming, samples.
        mix: initial wet proportion in [0, 1].
        **initial: physical initial values by parameter name.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> reverb = NoiseReverb(16000, duration=0.5, crossovers=[1000.0], band2_rt60=0.3)
        >>> sorted(reverb.values())
        ['band1_level_db', 'band1_rt60', 'band2_level_db', 'band2_rt60', 'mix']
    """

    def __init__(
        self,
        sample_rate: float,
        duration: float = 1.0,
        crossovers: Sequence[float] = (250.0, 1000.0, 4000.0),
        seed: int = 0,
        partition: int = 256,
        mix: float = 0.3,
        **initial: float,
    ):
        if isinstance(crossovers, (str, bytes)) or not isinstance(crossovers, Sequence):
            raise TypeError(f"crossovers must be a list of Hz, got {type(crossovers).__name__}")
        self.bands = len(crossovers) + 1
        specs = [_mix(0.3)]
        for i in range(1, self.bands + 1):
            specs += [_rt60(f"band{i}_rt60", 1.0), Parameter(f"band{i}_level_db", "dB", -60.0, 12.0, 0.0, static=True)]
        super().__init__(sample_rate, specs, {"mix": mix, **initial}, partition)
        noise = band_noise(_length(self.sample_rate, duration, None), crossovers, self.sample_rate, seed)
        self.register_buffer("noise", noise.float(), persistent=False)

    def impulse_response(self, params):
        def stacked(name):
            return torch.cat(torch.broadcast_tensors(*(params[f"band{i}_{name}"] for i in range(1, self.bands + 1))), -1)

        return noise_reverb_ir(self.noise, stacked("rt60"), stacked("level_db"), self.sample_rate)


class FeedbackDelayNetwork(Processor):
    r"""Feedback delay network reverb with a decay time below and above a crossover.

    ``N`` delay lines of fixed lengths, an orthogonal mixing matrix, learnable
    input and output gains (``input_gains``, ``output_gains``, ``(N,)``,
    unconstrained), and per-line first-order absorption shelves set by Jot's
    method from ``rt60_low`` and ``rt60_high`` (s, log scale, [0.02, 20])
    either side of ``crossover`` (Hz, log scale, [50, 10000] below Nyquist)
    (:func:`ddsp_kit.functional.feedback_delay_network`). Every loop gain is
    below 1 and the matrix is orthogonal, so the network is stable for every
    parameter value. The mixing matrix is Householder, Hadamard (``N`` a power
    of 2) or ``"learnable"``: the exponential of a skew-symmetric matrix,
    orthogonal for any value of its ``N (N - 1) / 2`` generators
    (``mixing_generator``, started at random from ``seed``).

    Args:
        sample_rate: Hz.
        lines: number of delay lines when ``delays`` is None (then distinct
            primes from 30 to 75 ms, :func:`ddsp_kit.functional.default_delays`).
        delays: line lengths, samples (ints >= 1; mutually prime for a dense
            echo). The shortest sets the chunk the network runs in.
        mixing: one of ``MIXINGS``.
        seed: seed of the learnable mixing matrix.
        rt60_low: initial decay time below the crossover, s.
        rt60_high: initial decay time above it, s.
        crossover: initial crossover, Hz.
        mix: initial wet proportion in [0, 1].

    Shape:
        ``(batch, channels, samples)`` in and out; channels run independent copies.

    Example:
        >>> fdn = FeedbackDelayNetwork(16000, lines=4, mixing="hadamard")
        >>> fdn.delays, fdn(torch.randn(2, 1, 16000)).audio.shape
        ([487, 653, 887, 1201], torch.Size([2, 1, 16000]))
    """

    def __init__(
        self,
        sample_rate: float,
        lines: int = 8,
        delays: Optional[Sequence[int]] = None,
        mixing: str = "householder",
        seed: int = 0,
        rt60_low: float = 1.5,
        rt60_high: float = 0.75,
        crossover: float = 2000.0,
        mix: float = 0.3,
    ):
        specs = [
            _rt60("rt60_low", 1.5),
            _rt60("rt60_high", 0.75),
            frequency_parameter("crossover", 50.0, 10000.0, 2000.0, sample_rate, static=True),
            _mix(0.3),
        ]
        initial = {"rt60_low": rt60_low, "rt60_high": rt60_high, "crossover": crossover, "mix": mix}
        super().__init__(sample_rate, specs, initial)
        if delays is None:
            delays = default_delays(lines, self.sample_rate)
        if isinstance(delays, (str, bytes)) or not isinstance(delays, Sequence) or not delays:
            raise ValueError(f"delays must be a non-empty list of ints >= 1 samples, got {delays!r}")
        if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in delays):
            raise ValueError(f"delays must be ints >= 1 samples, got {list(delays)}")
        self.delays = list(delays)
        count = len(self.delays)
        if mixing not in MIXINGS:
            raise ValueError(f"mixing must be one of {MIXINGS}, got {mixing!r}")
        self.mixing = mixing
        if mixing == "learnable":
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise TypeError(f"seed must be an int, got {type(seed).__name__}")
            generator = torch.Generator().manual_seed(seed)
            self.mixing_generator = nn.Parameter(torch.randn(count * (count - 1) // 2, generator=generator))
        else:
            self.register_buffer("fixed_matrix", mixing_matrix(mixing, count), persistent=False)
        scale = 1 / math.sqrt(count)
        self.input_gains = nn.Parameter(torch.full((count,), scale))
        self.output_gains = nn.Parameter(scale * (1 - 2 * (torch.arange(count) % 2)).float())

    def extra_repr(self) -> str:
        return super().extra_repr() + f", delays={self.delays}, mixing={self.mixing!r}"

    def matrix(self) -> Tensor:
        """The orthogonal ``(N, N)`` mixing matrix."""
        if self.mixing == "learnable":
            return orthogonal_matrix(self.mixing_generator, len(self.delays))
        return self.fixed_matrix

    def process(self, x, params, state):
        absorption = absorption_design(
            self.delays, params["rt60_low"][..., 0], params["rt60_high"][..., 0], params["crossover"][..., 0],
            sample_rate=self.sample_rate,
        )
        wet, final = feedback_delay_network(
            x, self.delays, self.matrix(), self.input_gains, self.output_gains, absorption, _unpack(NetworkState, state)
        )
        return dry_wet(x, wet, params["mix"]).to(x.dtype), final._asdict()
