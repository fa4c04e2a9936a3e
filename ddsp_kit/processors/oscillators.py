r"""Oscillators and the ADSR envelope on the processor protocol.

Generators write onto a bus, ``y = x + signal``: ``osc(torch.zeros(B, 1, T))``
is the pure signal, and generators chain and mix. The envelope multiplies,
``y = x * envelope``. Frequencies are log-scaled in Hz (20 Hz to 20 kHz,
capped below Nyquist); amplitudes are linear in [0, 1]. The running phase is
the state (see :mod:`ddsp_kit.functional.oscillators`), so blocks streamed
with their state equal one pass, and frame-rate controls, upsampled by the
protocol's causal ramp, sweep without a phase jump.
"""

import math
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ..functional.oscillators import adsr, harmonic_synth, sawtooth, sine, square, triangle, wavetable
from .base import Parameter, Processor, State, frequency_parameter

Tensor = torch.Tensor

_AMPLITUDE = Parameter("amplitude", "", 0.0, 1.0, 0.5)


class _Oscillator(Processor):
    """A generator of ``amplitude * wave(frequency)`` onto ``x``; subclasses implement ``wave``."""

    def __init__(self, sample_rate: float, frequency: float, amplitude: float, extra: Sequence[Parameter] = (), **initial: float):
        specs = [frequency_parameter("frequency", 20.0, 20000.0, frequency, sample_rate), _AMPLITUDE, *extra]
        super().__init__(sample_rate, specs, {"frequency": frequency, "amplitude": amplitude, **initial})

    def wave(self, frequency: Tensor, params: Dict[str, Tensor], phase: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement wave()")

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        frequency = params["frequency"]
        wave, phase = self.wave(frequency.expand(*frequency.shape[:-1], x.shape[-1]), params, state.get("phase"))
        return x + (params["amplitude"] * wave).to(x.dtype), {"phase": phase}


class Sine(_Oscillator):
    r"""Sine oscillator, :math:`x + a \sin 2\pi\phi`.

    Args:
        sample_rate: Hz.
        frequency: initial frequency, Hz (log scale, 20 Hz..20 kHz below Nyquist).
        amplitude: initial amplitude, in [0, 1].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> osc = Sine(48000, frequency=6000.0, amplitude=0.5)
        >>> osc(torch.zeros(1, 1, 3)).audio.detach().round(decimals=4)
        tensor([[[0.0000, 0.3536, 0.5000]]])
    """

    def __init__(self, sample_rate: float, frequency: float = 440.0, amplitude: float = 0.5):
        super().__init__(sample_rate, frequency, amplitude)

    def wave(self, frequency, params, phase):
        return sine(frequency, sample_rate=self.sample_rate, phase=phase)


class Sawtooth(_Oscillator):
    r"""Band-limited sawtooth (four-point polyBLEP; see :func:`ddsp_kit.functional.oscillators.sawtooth`).

    Args:
        sample_rate: Hz.
        frequency: initial frequency, Hz (log scale, 20 Hz..20 kHz below Nyquist).
        amplitude: initial amplitude, in [0, 1].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> saw = Sawtooth(48000, frequency=110.0)
        >>> saw(torch.zeros(2, 1, 480)).audio.shape
        torch.Size([2, 1, 480])
    """

    def __init__(self, sample_rate: float, frequency: float = 440.0, amplitude: float = 0.5):
        super().__init__(sample_rate, frequency, amplitude)

    def wave(self, frequency, params, phase):
        return sawtooth(frequency, sample_rate=self.sample_rate, phase=phase)


class Square(_Oscillator):
    r"""Band-limited pulse wave with a learnable width (four-point polyBLEP).

    ``width`` is the fraction of the period at +1 (0.5: the square wave); see
    :func:`ddsp_kit.functional.oscillators.square`.

    Args:
        sample_rate: Hz.
        frequency: initial frequency, Hz (log scale, 20 Hz..20 kHz below Nyquist).
        amplitude: initial amplitude, in [0, 1].
        width: initial pulse width, in [0.01, 0.99].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> pulse = Square(48000, frequency=1000.0, width=0.25)
        >>> round(pulse(torch.zeros(1, 1, 4800)).audio.mean().item(), 3)  # amplitude (2 width - 1)
        -0.25
    """

    def __init__(self, sample_rate: float, frequency: float = 440.0, amplitude: float = 0.5, width: float = 0.5):
        super().__init__(sample_rate, frequency, amplitude, [Parameter("width", "", 0.01, 0.99, 0.5)], width=width)

    def wave(self, frequency, params, phase):
        return square(frequency, params["width"], sample_rate=self.sample_rate, phase=phase)


class Triangle(_Oscillator):
    r"""Band-limited triangle (four-point polyBLAMP; see :func:`ddsp_kit.functional.oscillators.triangle`).

    Args:
        sample_rate: Hz.
        frequency: initial frequency, Hz (log scale, 20 Hz..20 kHz below Nyquist).
        amplitude: initial amplitude, in [0, 1].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> tri = Triangle(48000, frequency=1000.0, amplitude=0.5)
        >>> round(tri(torch.zeros(1, 1, 48)).audio.max().item(), 2)  # 0.5 less the top partials' sinc^4 loss
        0.48
    """

    def __init__(self, sample_rate: float, frequency: float = 440.0, amplitude: float = 0.5):
        super().__init__(sample_rate, frequency, amplitude)

    def wave(self, frequency, params, phase):
        return triangle(frequency, sample_rate=self.sample_rate, phase=phase)


class Wavetable(_Oscillator):
    r"""Wavetable oscillator with a learnable one-period table.

    The table is an ordinary learnable tensor; it is read through band-limited
    mipmaps with linear interpolation
    (:func:`ddsp_kit.functional.oscillators.wavetable`), so no harmonic of it
    ever reaches Nyquist.

    Args:
        sample_rate: Hz.
        table: initial table, one period, ``(N,)``; None: a sine of 2048 samples.
        frequency: initial frequency, Hz (log scale, 20 Hz..20 kHz below Nyquist).
        amplitude: initial amplitude, in [0, 1].

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> osc = Wavetable(48000, torch.tensor([0.0, 1.0, 0.0, -1.0]), frequency=6000.0, amplitude=1.0)
        >>> osc(torch.zeros(1, 1, 3)).audio.detach()  # halfway between table samples: linear interpolation
        tensor([[[0.0000, 0.5000, 1.0000]]])
    """

    def __init__(self, sample_rate: float, table: Optional[Tensor] = None, frequency: float = 440.0, amplitude: float = 0.5):
        if table is None:
            table = torch.sin(2 * math.pi * torch.arange(2048) / 2048)
        if not isinstance(table, Tensor) or not table.is_floating_point() or table.dim() != 1 or table.shape[0] < 2:
            raise ValueError("table must be a float tensor (N,) holding one period, N >= 2")
        if not bool(torch.isfinite(table).all()):
            raise ValueError("table holds NaN or Inf values")
        super().__init__(sample_rate, frequency, amplitude)
        # float32 like every parameter of a new block (a model file holds one dtype; .double() converts it all).
        self.table = nn.Parameter(table.detach().to(torch.float32, copy=True))

    def wave(self, frequency, params, phase):
        return wavetable(frequency, self.table, sample_rate=self.sample_rate, phase=phase)


class HarmonicSynth(Processor):
    r"""DDSP-style additive synthesiser: ``n_harmonics`` phase-locked harmonics of ``f0``.

    Output :math:`x + a \sum_k h_k g_k \sin 2\pi k\phi`, with parameters
    ``f0`` (Hz, log scale, 20 Hz..20 kHz below Nyquist), ``amplitude`` (:math:`a`,
    [0, 1]) and ``harmonic1 .. harmonic{n}`` (:math:`h_k`, [0, 1], initially
    :math:`0.5 / k`); :math:`g_k` fades harmonics out smoothly, per sample, as they
    approach Nyquist (:func:`ddsp_kit.functional.oscillators.harmonic_synth`).
    With ``normalize`` the faded :math:`h_k` are divided by their sum (DDSP's
    harmonic distribution), so ``amplitude`` is the total. Controls are
    typically frame-rate (``f0`` from a pitch tracker, the rest from a network);
    the phase runs on across frames and streamed blocks.

    Args:
        sample_rate: Hz.
        n_harmonics: number of harmonics, an int >= 1.
        f0: initial fundamental, Hz.
        amplitude: initial amplitude, in [0, 1].
        normalize: normalise the harmonic amplitudes to sum to 1.
        **initial: initial ``harmonic{k}`` values by name.

    Shape:
        ``(batch, channels, samples)`` in and out.

    Example:
        >>> synth = HarmonicSynth(48000, n_harmonics=3, f0=200.0, harmonic2=0.0)
        >>> sorted(synth.values())
        ['amplitude', 'f0', 'harmonic1', 'harmonic2', 'harmonic3']
        >>> f0 = synth.to_raw("f0", torch.tensor([[[200.0, 220.0, 240.0]]]))  # three frames
        >>> synth(torch.zeros(1, 1, 300), {"f0": f0}).audio.shape
        torch.Size([1, 1, 300])
    """

    def __init__(
        self,
        sample_rate: float,
        n_harmonics: int = 16,
        f0: float = 220.0,
        amplitude: float = 0.5,
        normalize: bool = False,
        **initial: float,
    ):
        if isinstance(n_harmonics, bool) or not isinstance(n_harmonics, int) or n_harmonics < 1:
            raise ValueError(f"n_harmonics must be an int >= 1, got {n_harmonics!r}")
        specs = [frequency_parameter("f0", 20.0, 20000.0, f0, sample_rate), _AMPLITUDE]
        specs += [Parameter(f"harmonic{k}", "", 0.0, 1.0, 0.5 / k) for k in range(1, n_harmonics + 1)]
        super().__init__(sample_rate, specs, {"f0": f0, "amplitude": amplitude, **initial})
        self.n_harmonics = n_harmonics
        self.normalize = bool(normalize)

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        f0 = params["f0"]
        harmonics = torch.broadcast_tensors(*(params[f"harmonic{k}"] for k in range(1, self.n_harmonics + 1)))
        wave, phase = harmonic_synth(
            f0.expand(*f0.shape[:-1], x.shape[-1]),
            torch.stack(harmonics, -2),
            sample_rate=self.sample_rate,
            phase=state.get("phase"),
            normalize=self.normalize,
        )
        return x + (params["amplitude"] * wave).to(x.dtype), {"phase": phase}


class ADSR(Processor):
    r"""ADSR envelope applied to ``x``: ``y = x * envelope``.

    Parameters: ``attack_ms`` (linear rise to 1, [0.1, 10000] ms, log scale),
    ``decay_ms`` and ``release_ms`` (exponential time constants, [0.1, 10000] ms,
    log scale) and ``sustain`` (level, [0, 1]); see
    :func:`ddsp_kit.functional.oscillators.adsr`. The gate is an input,
    ``forward(x, gate=g)`` with ``g`` ``(batch or 1, channels or 1, samples)``,
    held where above 1/2; without it the gate is held throughout (attack,
    decay, sustain from the first sample). The state carries the level, the
    attack's progress and the gate, so a note may span blocks.

    Args:
        sample_rate: Hz.
        attack_ms: initial attack time, ms.
        decay_ms: initial decay time constant, ms.
        sustain: initial sustain level, in [0, 1].
        release_ms: initial release time constant, ms.

    Shape:
        ``x`` and ``gate``: ``(batch, channels, samples)``; output: like ``x``.

    Example:
        >>> envelope = ADSR(1000, attack_ms=4.0, decay_ms=2.0, sustain=0.5, release_ms=2.0)
        >>> gate = torch.tensor([[[1.0] * 6 + [0.0] * 2]])
        >>> [round(v, 2) for v in envelope(torch.ones(1, 1, 8), gate=gate).audio.flatten().tolist()]
        [0.25, 0.5, 0.75, 1.0, 0.8, 0.68, 0.41, 0.25]
    """

    def __init__(
        self, sample_rate: float, attack_ms: float = 10.0, decay_ms: float = 100.0, sustain: float = 0.7, release_ms: float = 200.0
    ):
        specs = [
            Parameter("attack_ms", "ms", 0.1, 10000.0, 10.0, scale="log"),
            Parameter("decay_ms", "ms", 0.1, 10000.0, 100.0, scale="log"),
            Parameter("sustain", "", 0.0, 1.0, 0.7),
            Parameter("release_ms", "ms", 0.1, 10000.0, 200.0, scale="log"),
        ]
        values = {"attack_ms": attack_ms, "decay_ms": decay_ms, "sustain": sustain, "release_ms": release_ms}
        super().__init__(sample_rate, specs, values)

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State, gate: Optional[Tensor] = None) -> Tuple[Tensor, State]:
        if gate is None:
            gate = x.new_ones(1, 1, x.shape[-1])
        elif gate.shape[1] not in (1, x.shape[1]):
            raise ValueError(
                f"gate of shape {tuple(gate.shape)} does not fit x {tuple(x.shape)}: use (batch or 1, channels or 1, samples)"
            )
        envelope, next_state = adsr(gate, **params, sample_rate=self.sample_rate, state=state or None)
        return x * envelope.to(x.dtype), next_state
