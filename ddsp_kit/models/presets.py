r"""Gray-box presets: interpretable chains for the common device families.

Each function returns a :class:`~ddsp_kit.chain.Chain` of physical blocks,
initialised to a neutral, plausible setting of the device family:

==============  ============================================================
preset          blocks
==============  ============================================================
``compressor``  EQ -> compressor -> EQ -> gain
``overdrive``   EQ -> gain -> waveshaper -> EQ (Wiener-Hammerstein)
``fuzz``        EQ -> gain -> biased waveshaper whose bias follows the input
                level (a time-varying controller: the transistor's bias
                shift) -> EQ
``pedals``      compressor into overdrive: EQ -> compressor -> drive gain ->
                waveshaper -> EQ -> gain (a typical pedalboard)
``amp``         EQ -> preamp waveshaper -> tone stack (low shelf, mid peak,
                high shelf) -> power-amp waveshaper -> cabinet FIR
``reverb``      EQ -> reverb with its dry/wet mix: a feedback delay network
                (RT60 below and above a crossover) or a noise IR (RT60 and
                level per band)
``hybrid``      any of the above in parallel with a small black-box residual
                (a GRU), which starts 40 dB down so training begins at the
                gray-box model
==============  ============================================================

:func:`with_output_fir` puts a learned FIR after any model (a black-box net
before an amp's cabinet).

``control`` chooses how the main blocks' parameters are produced:
``"static"`` (learnable constants), ``"knobs"`` (an MLP from ``num_knobs``
knob values), ``"time-varying"`` (a GRU over the block's own input at frame
rate) or ``"knobs+time-varying"`` (the GRU also reads the knobs). The blocks
that get the controller are, per preset: the compressor; the drive gain and
the shaper; the drive gain and the bias; the preamp drive and the tone stack;
the reverb (its decay and colour only through knobs: they are held per block,
so a time-varying controller drives the mix alone).
"""

from typing import Optional, Sequence

from ..chain import Chain, Parallel
from ..controllers import Controlled, KnobController, TimeVaryingController
from ..processors import (
    Asymmetric,
    Compressor,
    DCBlocker,
    FIRFilter,
    Gain,
    OnePole,
    ParametricEQ,
    Processor,
    Rational,
    Tanh,
)
from ..processors.reverb import FeedbackDelayNetwork, NoiseReverb
from .recurrent import RecurrentModel

CONTROLS = ("static", "knobs", "time-varying", "knobs+time-varying")
SHAPERS = {"tanh": Tanh, "asymmetric": Asymmetric, "rational": Rational}
TOPOLOGIES = ("wiener-hammerstein", "feedback-clipper")
AMP_TOPOLOGIES = ("preamp-tone-power", "tone-first")
HOP = 256  # frames of ~5 ms at 48 kHz for the time-varying controllers


def _check(control: str, num_knobs: int) -> None:
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
    if ("knobs" in control) != (num_knobs > 0):
        raise ValueError(f"control={control!r} needs num_knobs {'> 0' if 'knobs' in control else '= 0'}, got {num_knobs}")


def _controlled(block: Processor, control: str, num_knobs: int, names: Optional[Sequence[str]] = None) -> Processor:
    """``block`` with the controller ``control`` asks for (unchanged when static)."""
    if control == "static":
        return block
    if control == "knobs":
        return Controlled(block, KnobController(num_knobs), names)
    return Controlled(block, TimeVaryingController(HOP, num_knobs=num_knobs), names)


def _eq(sample_rate: float, bands: int) -> ParametricEQ:
    return ParametricEQ(sample_rate, bands=bands)


def compressor(
    sample_rate: float,
    control: str = "static",
    num_knobs: int = 0,
    bands: int = 2,
    detector: str = "peak",
    smoothing: str = "gain",
    rms_ms: float = 10.0,
) -> Chain:
    """EQ -> compressor -> EQ -> make-up gain.

    Args:
        sample_rate: Hz.
        control: one of ``CONTROLS``, for the compressor's parameters.
        num_knobs: knob count for the knob-conditioned controls.
        bands: peak bands of each EQ (plus its two shelves).
        detector: the compressor's level detector, ``"peak"`` or ``"rms"`` (mean square over ``rms_ms``, ms).
        smoothing: attack/release on the ``"gain"`` (after the static curve) or on the detector ``"level"``
            (before it, as LSP's and JUCE's compressors do).
        rms_ms: the RMS detector's time constant in ms.

    Example:
        >>> model = compressor(48000)
        >>> [type(block).__name__ for block in model.blocks]
        ['ParametricEQ', 'Compressor', 'ParametricEQ', 'Gain']
    """
    _check(control, num_knobs)
    return Chain(
        _eq(sample_rate, bands),
        _controlled(
            Compressor(sample_rate, threshold_db=-20.0, ratio=4.0, detector=detector, smoothing=smoothing, rms_ms=rms_ms),
            control,
            num_knobs,
        ),
        _eq(sample_rate, bands),
        Gain(sample_rate, 0.0),
    )


def overdrive(
    sample_rate: float,
    control: str = "static",
    num_knobs: int = 0,
    shaper: str = "tanh",
    bands: int = 2,
    topology: str = "wiener-hammerstein",
) -> Chain:
    """Overdrive: EQ -> drive gain -> waveshaper -> EQ (Wiener-Hammerstein), or with the clipping in parallel.

    ``topology="feedback-clipper"`` is the op-amp stage with diodes in its feedback path of the Tube Screamer
    family: the input passes clean and the clipped, high-passed, amplified signal adds to it,
    EQ -> (x + shaper(drive * highpass(x))) -> EQ, with a learnable gain on each path and the one-pole
    high-pass starting at the TS's 720 Hz.

    Args:
        sample_rate: Hz.
        control: one of ``CONTROLS``, for the drive and the shaper.
        num_knobs: knob count for the knob-conditioned controls.
        shaper: ``"tanh"``, ``"asymmetric"`` or ``"rational"``.
        bands: peak bands of each EQ.
        topology: ``"wiener-hammerstein"`` or ``"feedback-clipper"``.

    Example:
        >>> [type(block).__name__ for block in overdrive(48000).blocks]
        ['ParametricEQ', 'Gain', 'Tanh', 'ParametricEQ']
        >>> [type(block).__name__ for block in overdrive(48000, topology="feedback-clipper").blocks]
        ['ParametricEQ', 'Parallel', 'ParametricEQ']
    """
    _check(control, num_knobs)
    if shaper not in SHAPERS:
        raise ValueError(f"shaper must be one of {sorted(SHAPERS)}, got {shaper!r}")
    if topology not in TOPOLOGIES:
        raise ValueError(f"topology must be one of {TOPOLOGIES}, got {topology!r}")
    drive = [_controlled(Gain(sample_rate, 12.0), control, num_knobs), _controlled(SHAPERS[shaper](sample_rate), control, num_knobs)]
    if topology == "feedback-clipper":
        clipped = Chain(OnePole(sample_rate, "highpass", 720.0), *drive)
        drive = [Parallel(Gain(sample_rate, 0.0), clipped)]
    return Chain(_eq(sample_rate, bands), *drive, _eq(sample_rate, bands))


def fuzz(sample_rate: float, control: str = "time-varying", num_knobs: int = 0, bands: int = 2) -> Chain:
    """Fuzz: EQ -> drive gain -> biased tanh with an input-dependent bias -> EQ.

    The bias always follows the input level (a time-varying controller), as
    a fuzz's transistor bias shifts with the signal; ``control`` also decides
    the drive gain (``"static"`` or ``"knobs"`` keep the drive constant and
    still move the bias with the input).

    Example:
        >>> [type(block).__name__ for block in fuzz(48000).blocks]
        ['ParametricEQ', 'Controlled', 'Controlled', 'ParametricEQ']
    """
    _check(control, num_knobs)
    bias = Controlled(Asymmetric(sample_rate, bias=0.2, input_gain_db=12.0), TimeVaryingController(HOP, num_knobs=num_knobs), ["bias"])
    return Chain(
        _eq(sample_rate, bands),
        _controlled(Gain(sample_rate, 12.0), control, num_knobs),
        bias,
        _eq(sample_rate, bands),
    )


def pedals(sample_rate: float, control: str = "static", num_knobs: int = 0, shaper: str = "tanh", bands: int = 2) -> Chain:
    """A compressor into an overdrive: EQ -> compressor -> drive gain -> waveshaper -> EQ -> gain.

    Args:
        sample_rate: Hz.
        control: one of ``CONTROLS``, for the compressor, the drive and the shaper.
        num_knobs: knob count for the knob-conditioned controls.
        shaper: ``"tanh"``, ``"asymmetric"`` or ``"rational"``.
        bands: peak bands of each EQ.

    Example:
        >>> [type(block).__name__ for block in pedals(48000).blocks]
        ['ParametricEQ', 'Compressor', 'Gain', 'Tanh', 'ParametricEQ', 'Gain']
    """
    dynamics = compressor(sample_rate, control, num_knobs, bands).blocks
    drive = overdrive(sample_rate, control, num_knobs, shaper, bands).blocks
    return Chain(dynamics[0], dynamics[1], *drive[1:], Gain(sample_rate, 0.0))


def amp(
    sample_rate: float, control: str = "static", num_knobs: int = 0, cabinet_taps: int = 512, topology: str = "preamp-tone-power"
) -> Chain:
    """Guitar amp: EQ -> preamp shaper -> tone stack -> power-amp shaper -> cabinet FIR, or the tone stack first.

    The tone stack is a low shelf (bass), a peak (mid) and a high shelf
    (treble); the cabinet starts as a unit impulse of ``cabinet_taps`` taps
    (FFT convolution), to be learned. ``topology="tone-first"`` is the
    idealised amp of CAPS' AmpVTS and of amps whose passive tone stack sits
    ahead of the clipping: EQ -> tone stack -> compressor (the supply's sag:
    loud passages lower the drive) -> preamp tanh -> one-pole low-pass (the
    bright filter between the stages) -> biased power-amp shaper -> DC
    blocker -> cabinet.

    Args:
        sample_rate: Hz.
        control: one of ``CONTROLS``, for the preamp drive and the tone stack.
        num_knobs: knob count for the knob-conditioned controls.
        cabinet_taps: cabinet FIR length, samples.
        topology: ``"preamp-tone-power"`` or ``"tone-first"``.

    Example:
        >>> [type(block).__name__ for block in amp(48000).blocks]
        ['ParametricEQ', 'Asymmetric', 'ParametricEQ', 'Tanh', 'FIRFilter']
        >>> [type(block).__name__ for block in amp(48000, topology="tone-first").blocks][1:5]
        ['ParametricEQ', 'Compressor', 'Tanh', 'OnePole']
    """
    _check(control, num_knobs)
    if topology not in AMP_TOPOLOGIES:
        raise ValueError(f"topology must be one of {AMP_TOPOLOGIES}, got {topology!r}")
    tone = ParametricEQ(sample_rate, bands=1, low_shelf_frequency=120.0, peak1_frequency=700.0, high_shelf_frequency=3000.0)
    tone = _controlled(tone, control, num_knobs, ["low_shelf_gain_db", "peak1_gain_db", "high_shelf_gain_db"])
    cabinet = FIRFilter.pass_through(sample_rate, cabinet_taps)
    if topology == "tone-first":
        return Chain(
            _eq(sample_rate, 1),
            tone,
            Compressor(sample_rate, threshold_db=-30.0, ratio=2.0, attack_ms=5.0, release_ms=100.0),
            _controlled(Tanh(sample_rate, input_gain_db=24.0), control, num_knobs, ["input_gain_db"]),
            OnePole(sample_rate, "lowpass", 4000.0),
            Asymmetric(sample_rate, bias=0.1, input_gain_db=6.0),
            DCBlocker(sample_rate),
            cabinet,
        )
    return Chain(
        _eq(sample_rate, 1),
        _controlled(Asymmetric(sample_rate, bias=0.1, input_gain_db=18.0), control, num_knobs, ["input_gain_db"]),
        tone,
        Tanh(sample_rate, input_gain_db=6.0),
        cabinet,
    )


REVERBS = {"fdn": FeedbackDelayNetwork, "noise": NoiseReverb}


def reverb(sample_rate: float, control: str = "static", num_knobs: int = 0, kind: str = "fdn") -> Chain:
    """EQ -> reverb (``kind``: ``"fdn"`` or ``"noise"``), the reverb mixing dry and wet itself.

    Example:
        >>> [type(block).__name__ for block in reverb(48000).blocks]
        ['ParametricEQ', 'FeedbackDelayNetwork']
    """
    _check(control, num_knobs)
    if kind not in REVERBS:
        raise ValueError(f"kind must be one of {sorted(REVERBS)}, got {kind!r}")
    names = None if control == "knobs" else ["mix"]
    return Chain(_eq(sample_rate, 1), _controlled(REVERBS[kind](sample_rate), control, num_knobs, names))


def hybrid(sample_rate: float, base: str = "overdrive", control: str = "static", num_knobs: int = 0, hidden: int = 8) -> Parallel:
    """A gray-box preset plus a small recurrent residual: ``Parallel(preset, GRU, gains_db=[0, -40])``.

    Args:
        sample_rate: Hz.
        base: the gray-box preset (a key of ``PRESETS`` other than ``"hybrid"``).
        control, num_knobs: as for the base preset; the residual reads the knobs too.
        hidden: GRU width of the residual.

    Example:
        >>> model = hybrid(48000, "compressor")
        >>> [type(branch).__name__ for branch in model.branches]
        ['Chain', 'RecurrentModel']
    """
    if base not in PRESETS or base == "hybrid":
        raise ValueError(f"base must be one of {sorted(set(PRESETS) - {'hybrid'})}, got {base!r}")
    residual = RecurrentModel(sample_rate, hidden=hidden, cell="gru", num_knobs=num_knobs)
    return Parallel(PRESETS[base](sample_rate, control=control, num_knobs=num_knobs), residual, gains_db=[0.0, -40.0])


def with_output_fir(model: Processor, taps: int = 512) -> Chain:
    """Any model followed by a learned FIR of ``taps`` taps that starts as a pass-through.

    For a black-box net on a device whose nonlinearity is followed by a long
    linear response (an amp's cabinet): a recurrent net holds a response of
    milliseconds poorly in its state, an FIR holds it exactly. On
    ``amp_vts_cab`` an LSTM-32 alone reached test ESR 0.022 in 600 s, and
    0.0054 in 240 s with 512 taps after it. The training crops' warm-up
    should cover ``taps`` (the FIR's history).

    Args:
        model: a processor (a :class:`RecurrentModel`, a :class:`~ddsp_kit.models.TCN`, a preset).
        taps: FIR length, samples.

    Example:
        >>> model = with_output_fir(RecurrentModel(48000, hidden=8), taps=256)
        >>> [type(block).__name__ for block in model.blocks], model.blocks[1].taps.shape
        (['RecurrentModel', 'FIRFilter'], torch.Size([256]))
    """
    if not isinstance(model, Processor):
        raise TypeError(f"model must be a Processor, got {type(model).__name__}")
    return Chain(model, FIRFilter.pass_through(model.sample_rate, taps))


PRESETS = {
    "compressor": compressor,
    "overdrive": overdrive,
    "fuzz": fuzz,
    "pedals": pedals,
    "amp": amp,
    "reverb": reverb,
    "hybrid": hybrid,
}
