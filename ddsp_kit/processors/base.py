r"""The processor protocol every block of ddsp_kit follows.

A processor declares its parameters once (:class:`Parameter`: name, unit,
range, default, linear or log scale). Its learnable values, and any control
a controller feeds it, are *unconstrained*; :meth:`Parameter.to_physical` is
the one place that maps them into the physical range (a sigmoid, on a log
axis for log-scaled parameters), and :meth:`Parameter.to_raw` inverts it to
initialise from physical values. A subclass only implements
:meth:`Processor.process`, which receives physical values.

Controls are ``(batch or 1, channels or 1, n)`` tensors of unconstrained
values: ``n = 1`` is static, ``n = samples`` per-sample, and any other ``n``
dividing the sample count is frame-rate, upsampled by
:func:`ddsp_kit.functional.upsample_frames` (a causal ramp that streams).
When streaming, a static value that differs from the previous block's is
ramped to over the block (one frame per block: what a plugin does with a
parameter changed between blocks).

``forward`` returns :class:`Processed`: the audio, the physical parameter
values used (``(batch or 1, channels or 1, 1 or samples)``) and the state to
pass with the next block, so that processing in blocks equals one pass.
"""

import functools
import inspect
import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from ..functional.controls import upsample_frames
from ..functional.design import check_sample_rate

Tensor = torch.Tensor
State = Dict[str, Tensor]

SCALES = ("linear", "log")
# Physical values at the ends of a range map to this far inside it: the sigmoid
# never reaches its limits, and a finite raw value keeps gradients finite.
_EDGE = 1e-6
_CONTROL = "control."


@dataclass(frozen=True)
class Parameter:
    r"""A bounded physical parameter.

    Args:
        name: identifier (``frequency``, ``threshold_db``, ...).
        unit: ``"Hz"``, ``"dB"``, ``"ms"``, ``"ratio"``, ``""`` ...
        minimum: lower end of the range, in ``unit``.
        maximum: upper end, in ``unit``.
        default: initial value, in the range.
        scale: ``"linear"`` maps ``raw`` to ``min + sigmoid(raw) (max - min)``;
            ``"log"`` does the same on a log axis (``minimum > 0``), so that a
            step in ``raw`` is a ratio (octaves of frequency, factors of time).

        static: the value is held over each block (one value per block, batch row
            and channel): per-sample or frame-rate controls raise ValueError, and a
            value that moved between streamed blocks is not ramped. For quantities
            with no per-sample meaning (a reverb's decay time, an IR's level).

    A value at either end of the range maps to a raw value where the sigmoid's
    slope is about 1e-6: it is representable but barely learns, so defaults of
    learnable parameters belong inside the range.

    Example:
        >>> q = Parameter("q", "", 0.1, 10.0, 0.7071, scale="log")
        >>> round(float(q.to_physical(q.to_raw(2.0))), 4)
        2.0
    """

    name: str
    unit: str
    minimum: float
    maximum: float
    default: float
    scale: str = "linear"
    static: bool = False

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"parameter {self.name!r}: scale must be one of {SCALES}, got {self.scale!r}")
        if not (math.isfinite(self.minimum) and math.isfinite(self.maximum) and self.minimum < self.maximum):
            raise ValueError(f"parameter {self.name!r}: needs finite minimum < maximum, got [{self.minimum}, {self.maximum}]")
        if self.scale == "log" and self.minimum <= 0:
            raise ValueError(f"parameter {self.name!r}: a log scale needs minimum > 0, got {self.minimum}")
        self.check(self.default)

    def _axis(self, value):
        return torch.log(value) if self.scale == "log" else value

    def _ends(self) -> Tuple[float, float]:
        if self.scale == "log":
            return math.log(self.minimum), math.log(self.maximum)
        return self.minimum, self.maximum

    def check(self, value) -> None:
        """Raise ValueError unless every value is finite and within the range."""
        t = torch.as_tensor(value, dtype=torch.float64).detach()
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{self.name} holds NaN or Inf values")
        low, high = float(t.min()), float(t.max())
        if low < self.minimum or high > self.maximum:
            seen = f"{low:g}" if low == high else f"values from {low:g} to {high:g}"
            raise ValueError(
                f"{self.name} must lie in [{self.minimum:g}, {self.maximum:g}] {self.unit}".rstrip()
                + f", got {seen}"
            )

    def to_physical(self, raw: Tensor) -> Tensor:
        """Map unconstrained values into the range (differentiable)."""
        low, high = self._ends()
        value = low + torch.sigmoid(raw) * (high - low)
        return torch.exp(value) if self.scale == "log" else value

    def to_raw(self, value, dtype: torch.dtype = torch.float32) -> Tensor:
        """Invert :meth:`to_physical`: the unconstrained value of a physical one (checked)."""
        self.check(value)
        low, high = self._ends()
        position = (self._axis(torch.as_tensor(value, dtype=torch.float64)) - low) / (high - low)
        return torch.logit(position.clamp(_EDGE, 1 - _EDGE)).to(dtype)


def frequency_parameter(
    name: str, minimum: float, maximum: float, default: float, sample_rate: float, static: bool = False
) -> Parameter:
    """A log-scaled frequency in Hz whose range stops below Nyquist at ``sample_rate``."""
    top = min(maximum, 0.49 * check_sample_rate(sample_rate))
    return Parameter(name, "Hz", minimum, top, min(default, top), scale="log", static=static)


class Processed(NamedTuple):
    """What a processor returns: ``audio`` ``(batch, channels, samples)``, the physical
    ``params`` it used and the ``state`` to pass with the next block."""

    audio: Tensor
    params: Dict[str, Tensor]
    state: State


@functools.lru_cache(maxsize=None)
def _named_arguments(function) -> frozenset:
    """The arguments ``function`` takes by name (read once per class: chains ask on every block call)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(name for name, p in inspect.signature(function).parameters.items() if p.kind in kinds)


def nested(mapping: Optional[Mapping[str, Tensor]], prefix: str) -> Dict[str, Tensor]:
    """The entries of ``mapping`` under ``prefix.``, with the prefix removed (a child block's share)."""
    head = prefix + "."
    return {key[len(head):]: value for key, value in (mapping or {}).items() if key.startswith(head)}


def prefixed(mapping: Mapping[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    """``mapping`` with every key put under ``prefix.``."""
    return {f"{prefix}.{key}": value for key, value in mapping.items()}


def check_audio(x, name: str = "x") -> Tensor:
    """A finite float ``(batch, channels, samples)`` tensor with at least one sample."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (batch, channels, samples), got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] == 0:
        raise ValueError(f"{name} must be (batch, channels, samples) with samples > 0, got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name} must be float32 or float64, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or Inf samples")
    return x


# Every public Configurable subclass (processors, controllers) by class name: what a model file's JSON names.
REGISTRY: Dict[str, type] = {}


def _record_arguments(init):
    """Wrap a subclass ``__init__`` so that the outermost call records its arguments."""

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        outermost = "_init_arguments" not in self.__dict__
        if outermost:
            bound = inspect.signature(init).bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(arguments)))  # self
            object.__setattr__(self, "_init_arguments", None)  # claimed: inner __init__s do not record
        init(self, *args, **kwargs)
        if outermost:
            object.__setattr__(self, "_init_arguments", arguments)

    return wrapper


class Configurable(nn.Module):
    """A module a model file can rebuild: its public subclasses are registered by
    class name and their constructor arguments are recorded (``init_arguments``)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _record_arguments(cls.__init__)
        if not cls.__name__.startswith("_"):
            if cls.__name__ in REGISTRY and REGISTRY[cls.__name__] is not cls:
                raise TypeError(f"two classes are named {cls.__name__!r}; model files name blocks by class")
            REGISTRY[cls.__name__] = cls

    @property
    def init_arguments(self) -> Dict[str, Any]:
        """The arguments this module was constructed with (what a model file rebuilds it from)."""
        return dict(self.__dict__.get("_init_arguments") or {})


class Processor(Configurable):
    r"""Base class of every block: parameters, controls, streaming state.

    Args:
        sample_rate: Hz, a positive number.
        parameters: the block's :class:`Parameter` declarations.
        initial: physical initial values by name (others start at their default);
            a value outside its range raises ValueError.

    Subclasses implement ``process(x, params, state) -> (audio, state)``, where
    ``params`` maps each name to physical values ``(batch or 1, channels or 1,
    1 or samples)`` and ``state`` is what the previous block returned (empty on
    the first block). Learnable values live in ``self.raw``, unconstrained.
    ``latency`` (samples, 0 here) is the delay a block adds to its output
    (look-ahead, linear-phase oversampling), for dry paths to align with.
    A block that reads knobs (a device's control values, normalised to
    [0, 1]) sets ``num_knobs`` and receives them in ``process(..., knobs=)``.
    Constructor arguments are recorded (``init_arguments``) so that a model
    file can rebuild the block: keep them JSON values, tensors or processors.
    """

    latency: int = 0
    num_knobs: int = 0

    def __init__(self, sample_rate: float, parameters: Sequence[Parameter], initial: Optional[Mapping[str, float]] = None):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.specs: Dict[str, Parameter] = {}
        for spec in parameters:
            if spec.name in self.specs:
                raise ValueError(f"parameter {spec.name!r} declared twice")
            self.specs[spec.name] = spec
        initial = dict(initial or {})
        unknown = sorted(set(initial) - set(self.specs))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter(s) {unknown}; it has {list(self.specs)}")
        self.raw = nn.ParameterDict(
            {name: nn.Parameter(spec.to_raw(initial.get(name, spec.default))) for name, spec in self.specs.items()}
        )

    def extra_repr(self) -> str:
        values = ", ".join(f"{name}={value:.4g}" for name, value in self.values().items())
        return f"sample_rate={self.sample_rate:g}" + (f", {values}" if values else "")

    def values(self) -> Dict[str, float]:
        """The static physical values of the learnable parameters."""
        return {name: float(spec.to_physical(self.raw[name].detach())) for name, spec in self.specs.items()}

    def to_raw(self, name: str, value) -> Tensor:
        """Unconstrained control for physical ``value`` of parameter ``name`` (to drive a block)."""
        if name not in self.specs:
            raise ValueError(f"{type(self).__name__} has no parameter {name!r}; it has {list(self.specs)}")
        return self.specs[name].to_raw(value, dtype=self.raw[name].dtype)

    def _control(self, name: str, control, x: Tensor, previous: Optional[Tensor]) -> Tensor:
        """A control checked against ``x`` and upsampled to ``(B|1, C|1, 1|T)``."""
        if self.specs[name].static and isinstance(control, Tensor) and control.dim() == 3 and control.shape[-1] != 1:
            raise ValueError(
                f"{type(self).__name__}: {name!r} is held over each block (static); pass one value per block "
                f"(batch, channels, 1), got {tuple(control.shape)}"
            )
        if not isinstance(control, Tensor) or control.dim() != 3:
            shape = tuple(control.shape) if isinstance(control, Tensor) else type(control).__name__
            raise ValueError(f"control {name!r} must be a (batch, channels, frames) tensor, got {shape}")
        batch, channels, samples = x.shape
        count = control.shape[-1]
        if control.shape[0] not in (1, batch) or control.shape[1] not in (1, channels) or count == 0 or samples % count:
            raise ValueError(
                f"control {name!r} of shape {tuple(control.shape)} does not fit audio {tuple(x.shape)}: "
                "use (batch or 1, channels or 1, frames) with frames dividing the sample count"
            )
        if not bool(torch.isfinite(control).all()):
            raise ValueError(f"control {name!r} holds NaN or Inf values")
        if previous is not None and previous.shape[:2] != control.shape[:2]:
            raise ValueError(f"control {name!r}: state from a block of shape {tuple(previous.shape[:2])}, control {tuple(control.shape)}")
        if count == samples:
            return control
        if count == 1 and (previous is None or self.specs[name].static or torch.equal(previous, control)):
            return control  # static: no earlier value, the same one, or a parameter held per block
        # Frames; or one value per block that moved since the last block: ramped from
        # the last value, as a plugin smooths a parameter changed between blocks.
        return upsample_frames(control, samples, previous)

    def forward(
        self,
        x: Tensor,
        controls: Optional[Mapping[str, Tensor]] = None,
        state: Optional[State] = None,
        *,
        knobs: Optional[Tensor] = None,
        **inputs: Tensor,
    ) -> Processed:
        """Process one block.

        Args:
            x: ``(batch, channels, samples)`` audio at ``self.sample_rate``.
            controls: unconstrained values by parameter name, each
                ``(batch or 1, channels or 1, 1 | frames | samples)``; they replace
                the learnable values of those parameters.
            state: the ``state`` of the previous block's result, None to start.
            knobs: ``(batch or 1, num_knobs)`` control values in [0, 1], for
                blocks that read knobs (``num_knobs > 0``).
            **inputs: further audio a block takes (e.g. ``sidechain``), each
                ``(batch or 1, channels, samples)`` like ``x``; passed to ``process``.
        """
        x = check_audio(x)
        for name, extra in inputs.items():
            check_audio(extra, name)
            if extra.shape[0] not in (1, x.shape[0]) or extra.shape[-1] != x.shape[-1]:
                raise ValueError(f"{name} of shape {tuple(extra.shape)} does not fit x {tuple(x.shape)}")
        controls = dict(controls or {})
        unknown = sorted(set(controls) - set(self.specs))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter(s) {unknown} to control; it has {list(self.specs)}")
        if state is not None and not isinstance(state, Mapping):
            raise TypeError(f"state must be the dict a previous call returned, got {type(state).__name__}")
        state = dict(state or {})
        params, carried = {}, {}
        for name, spec in self.specs.items():
            if name in controls:
                raw = self._control(name, controls[name], x, state.get(_CONTROL + name))
                carried[_CONTROL + name] = controls[name][..., -1:]
            else:
                raw = self.raw[name].reshape(1, 1, 1)
            params[name] = spec.to_physical(raw)
        own = {key: value for key, value in state.items() if not key.startswith(_CONTROL)}
        knobs = self.resolve_knobs(knobs, x)
        if knobs is not None:
            inputs["knobs"] = knobs
        y, own_next = self.process(x, params, own, **inputs)
        stray = sorted(set(own) - set(own_next))
        if stray:
            raise ValueError(f"state keys {stray} do not belong to {type(self).__name__} (state of another block?)")
        return Processed(y, params, {**own_next, **carried})

    def accepts_input(self, name: str) -> bool:
        """Whether ``forward`` takes the extra audio input ``name`` (``sidechain``, ``gate``...):
        a named argument of ``process``; composite blocks ask their children."""
        return name in _named_arguments(type(self).process)

    def resolve_knobs(self, knobs, x: Tensor) -> Optional[Tensor]:
        """The checked knobs of a block that reads them; None, or an error when given, for one that does not."""
        if self.num_knobs:
            return self.check_knobs(knobs, x)
        if knobs is not None:
            raise ValueError(f"{type(self).__name__} reads no knobs")
        return None

    def check_knobs(self, knobs, x: Tensor) -> Tensor:
        """``knobs`` checked to be ``(batch or 1, num_knobs)`` finite values in [0, 1]."""
        if knobs is None:
            raise ValueError(f"{type(self).__name__} needs knobs: a (batch, {self.num_knobs}) tensor of values in [0, 1]")
        if not isinstance(knobs, Tensor) or knobs.dim() != 2 or knobs.shape[0] not in (1, x.shape[0]) or knobs.shape[1] != self.num_knobs:
            shape = tuple(knobs.shape) if isinstance(knobs, Tensor) else type(knobs).__name__
            raise ValueError(f"knobs must be (batch or 1, {self.num_knobs}) for audio {tuple(x.shape)}, got {shape}")
        if not bool(((knobs >= 0) & (knobs <= 1)).all()):
            raise ValueError("knobs must lie in [0, 1] (normalised control values); got values outside, or NaN")
        return knobs

    def process(self, x: Tensor, params: Dict[str, Tensor], state: State) -> Tuple[Tensor, State]:
        raise NotImplementedError(f"{type(self).__name__} must implement process()")
