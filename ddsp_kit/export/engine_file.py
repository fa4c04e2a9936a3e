r"""The engine file: what the real-time C++ engine in ``plugins/`` loads.

A model file (:mod:`ddsp_kit.export.model_file`) stores a model as Python
rebuilds it: constructor arguments and unconstrained tensors. The engine
cannot run Python, so :func:`export_engine` writes a second file, also a
safetensors file, whose JSON header (metadata key ``"ddsp_kit.engine"``)
describes the model in the engine's terms:

* ``format`` ``"ddsp_kit.engine"`` and a semantic ``version``: a loader
  refuses another format or another major version;
* ``sample_rate`` (the rate the model was trained at; design parameters are
  recomputed at the host's rate by the same formulas on both sides),
  ``latency`` (samples at that rate), ``channels``;
* ``knobs``: what a plugin exposes, each with name, unit, range, default,
  scale and the block fields it drives (a block parameter, or a knob input of
  a black-box net, in [0, 1]);
* ``model``: the tree of typed blocks, each with its path (the prefix of its
  parameter names in Python, ``"1.0"``), its **design parameters** (Hz, Q,
  dB, ms: the physical values, never filter coefficients) and the names of
  its tensors (FIR taps, the weights of a recurrent net);
* ``golden``: a short input and the Python model's output for it (tensors
  ``golden.input`` and ``golden.output``) with the tolerance the engine must
  meet, so that every file can check itself on load.

The header is validated against ``engine_schema.json`` before the file is
written, and the file is written atomically. Blocks the engine cannot run are
refused with a message that names each one and its path.

Knob-conditioned blocks (a :class:`~ddsp_kit.controllers.KnobController` in a
:class:`~ddsp_kit.controllers.Controlled`) are exported with the controller's MLP
weights and each driven parameter's range; the engine recomputes them when a
knob moves. Time-varying blocks (a :class:`~ddsp_kit.controllers.TimeVaryingController`
reading the block's own input) are exported with the controller's GRU and
output layer; the engine runs the GRU at frame rate and the block one sample
at a time with the ramped parameters.

Channels: gray-box blocks process each channel alike (the engine runs any
channel count); a net (recurrent or TCN) with one input channel runs once per
channel. Nets, FIR taps and reverb IRs hold samples at the training rate: at
another host rate they run unchanged (filters, dynamics and the delay network
are redesigned, the nets cannot be), which the engine reports.

Tensors the state dict lacks (oversampling filters, a mixing matrix, reverb
noise) are computed at export and stored under names that start with
``engine.``.
"""

import copy
import json
import math
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import jsonschema
import torch
from safetensors.torch import save_file

from ..chain import Chain, Parallel
from ..controllers import Controlled, KnobController, TimeVaryingController
from ..functional.nonlinear import oversampling_filters
from ..models.recurrent import RecurrentModel
from ..models.tcn import TCN
from ..processors import Biquad, FIRFilter, Gain, OnePole, ParametricEQ, Processor
from ..processors.dynamics import _Dynamics
from ..processors.nonlinear import Asymmetric, Chebyshev, HardClip, MLPWaveshaper, Rational, Tanh, Waveshaper
from ..processors.reverb import ConvolutionReverb, FeedbackDelayNetwork, NoiseReverb
from .model_file import ModelFileError, read_metadata_json

FORMAT = "ddsp_kit.engine"
VERSION = "1.1.0"  # 1.1: oversampled, Chebyshev and MLP shapers; TCN; FiLM; reverbs; time-varying controllers
METADATA_KEY = "ddsp_kit.engine"
GOLDEN_SAMPLES = 4096
# The engine recomputes designs in double precision and runs double filter state; nets in float32.
# The golden output is the model run in float64, rounded to float32 (6e-8 at full scale).
GOLDEN_TOLERANCE = 2e-5

PathLike = Union[str, os.PathLike]
Block = Dict[str, Any]


def _schema() -> Dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("engine_schema.json").read_text())


def _values(block: Processor) -> Dict[str, float]:
    """Physical values in float64 (the unconstrained parameters mapped in double precision)."""
    return {name: float(spec.to_physical(block.raw[name].detach().double())) for name, spec in block.specs.items()}


def _waveshaper(block: Waveshaper, shape: str, tensors: Dict[str, Any], prefix: str) -> Block:
    """A shaper: its curve, its coefficients' count or MLP weights, and the 2x stages' taps when oversampled."""
    config: Block = {"shape": shape, "oversampling": block.oversampling, "latency": int(block.latency)}
    if isinstance(block, Rational):
        config.update(numerator=len(block.numerator_names), denominator=len(block.denominator_names))
    elif isinstance(block, Chebyshev):
        config.update(order=len(block.names))
    elif isinstance(block, MLPWaveshaper):
        tensors.update(hidden_weight=f"{prefix}hidden.weight", hidden_bias=f"{prefix}hidden.bias", output_weight=f"{prefix}output.weight")
    for stage, (up, down) in enumerate(oversampling_filters(block.oversampling), 1):
        tensors.update({f"up{stage}": up, f"down{stage}": down})
    return config


def _dynamics(block: _Dynamics) -> Block:
    return {
        "mode": block.mode,
        "detector": block.detector,
        "rms_ms": block.rms_ms,
        "smoothing": block.smoothing,
        "link": block.link or "none",
        "lookahead_ms": 1000.0 * block.latency / block.sample_rate,
    }


def _recurrent(block: RecurrentModel, prefix: str, tensors: Dict[str, Any]) -> Block:
    for layer in range(block.rnn.num_layers):
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            tensors[f"{kind}_l{layer}"] = f"{prefix}rnn.{kind}_l{layer}"
    tensors.update(output_weight=f"{prefix}output.weight", output_bias=f"{prefix}output.bias")
    return {
        "cell": block.cell,
        "hidden": block.rnn.hidden_size,
        "layers": block.rnn.num_layers,
        "in_channels": block.in_channels,
        "out_channels": block.out_channels,
        "num_knobs": block.num_knobs,
        "concat_knobs": block.concat_knobs,
        "residual": block.residual,
        **_film(block, prefix, tensors),
    }


def _film(block: Union[RecurrentModel, TCN], prefix: str, tensors: Dict[str, Any]) -> Block:
    """A net's FiLM modulators (an MLP each); TFiLM is refused."""
    if block.modulation == "tfilm":
        raise _Unsupported("modulation='tfilm' (the engine runs FiLM and concatenated knobs)")
    for n in range(len(block.modulators)):
        for role, index in (("hidden", 0), ("output", 2)):
            for kind in ("weight", "bias"):
                tensors[f"film{n}.{role}_{kind}"] = f"{prefix}modulators.{n}.net.{index}.{kind}"
    return {"film": bool(len(block.modulators)), "film_hidden": block.film_hidden}


def _tcn(block: TCN, prefix: str, tensors: Dict[str, Any]) -> Block:
    bias = block.output.bias is not None
    for n in range(len(block.convs)):
        tensors[f"conv{n}_weight"] = f"{prefix}convs.{n}.weight"
        if bias:
            tensors[f"conv{n}_bias"] = f"{prefix}convs.{n}.bias"
    if block.project is not None:
        tensors["project_weight"] = f"{prefix}project.weight"
    tensors["output_weight"] = f"{prefix}output.weight"
    if bias:
        tensors["output_bias"] = f"{prefix}output.bias"
    return {
        "channels": block.convs[0].out_channels,
        "kernel_size": block.convs[0].kernel_size[0],
        "dilations": list(block.dilations),
        "in_channels": block.in_channels,
        "out_channels": block.out_channels,
        "num_knobs": block.num_knobs,
        "bias": bias,
        **_film(block, prefix, tensors),
    }


def _feedback_delay_network(block: FeedbackDelayNetwork, prefix: str, tensors: Dict[str, Any]) -> Block:
    tensors.update(matrix=block.matrix(), input_gains=f"{prefix}input_gains", output_gains=f"{prefix}output_gains")
    return {"delays": list(block.delays), "rate": block.sample_rate}


def _convolution(block: Union[ConvolutionReverb, NoiseReverb], prefix: str, tensors: Dict[str, Any]) -> Block:
    """A convolution reverb: its IR tensor, or NoiseReverb's band noise (the engine rebuilds the IR from it)."""
    if isinstance(block, NoiseReverb):
        tensors["bands"] = block.noise
        return {"source": "noise", "rate": block.sample_rate}
    tensors["ir"] = f"{prefix}ir"
    return {"source": "ir"}


_NETS = (RecurrentModel, TCN)  # black-box nets: a one-channel net runs once per channel


class _Unsupported(Exception):
    """A block (or an option of one) the engine cannot run; collected into one ModelFileError."""


# Block classes the engine runs (and their subclasses, which only change defaults): each turns a block into its type-specific keys
# (given the state_dict prefix and a dict to record tensor names in). Chain and Parallel recurse.
ENGINE_BLOCKS: List[Tuple[type, str, Callable[..., Block]]] = [
    (Gain, "Gain", lambda b, p, t: {}),
    (OnePole, "OnePole", lambda b, p, t: {"kind": b.kind}),
    (Biquad, "Biquad", lambda b, p, t: {"kind": b.kind}),
    (ParametricEQ, "ParametricEQ", lambda b, p, t: {"bands": [{"name": n, "kind": k} for n, k in b.band_kinds.items()]}),
    (Tanh, "Waveshaper", lambda b, p, t: _waveshaper(b, "tanh", t, p)),
    (Asymmetric, "Waveshaper", lambda b, p, t: _waveshaper(b, "biased_tanh", t, p)),
    (HardClip, "Waveshaper", lambda b, p, t: _waveshaper(b, "hard_clip", t, p)),
    (Rational, "Waveshaper", lambda b, p, t: _waveshaper(b, "rational", t, p)),
    (Chebyshev, "Waveshaper", lambda b, p, t: _waveshaper(b, "chebyshev", t, p)),
    (MLPWaveshaper, "Waveshaper", lambda b, p, t: _waveshaper(b, "mlp", t, p)),
    (_Dynamics, "Dynamics", lambda b, p, t: _dynamics(b)),
    (FIRFilter, "FIRFilter", lambda b, p, t: t.update(taps=f"{p}taps") or {}),
    (RecurrentModel, "RecurrentModel", _recurrent),
    (TCN, "TCN", _tcn),
    (FeedbackDelayNetwork, "FeedbackDelayNetwork", _feedback_delay_network),
    (ConvolutionReverb, "Convolution", _convolution),
    (NoiseReverb, "Convolution", _convolution),
]
ENGINE_TYPES = sorted({name for _, name, _ in ENGINE_BLOCKS} | {"Chain", "Parallel", "KnobControlled", "TimeVarying"})


def _children(block: Processor) -> Tuple[str, Sequence[Processor]]:
    """A container's children and the attribute that holds them (``blocks``, ``branches``); none otherwise."""
    if type(block) is Chain:
        return "blocks", block.blocks
    if type(block) is Parallel:
        return "branches", block.branches
    return "", ()


def _child_path(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


def _describe(block: Processor, path: str, prefix: str, problems: List[str], computed: Dict[str, torch.Tensor]) -> Block:
    """The engine's description of ``block`` (recursively); unsupported blocks are added to ``problems``,
    tensors that are not in the state dict (filter taps, a mixing matrix, noise) to ``computed``."""
    where = path or "the model"
    if isinstance(block, Controlled):
        controller = block.controller
        if block.processor.num_knobs:
            problems.append(f"Controlled at {where}: its {type(block.processor).__name__} reads the knobs itself too")
        elif isinstance(controller, KnobController):
            return _knob_controlled(block, path, prefix, problems, computed)
        elif isinstance(controller, TimeVaryingController) and controller.source == "block":
            return _time_varying(block, path, prefix, problems, computed)
        else:
            problems.append(f"Controlled at {where}: a {type(controller).__name__} reading {getattr(controller, 'source', '?')!r} "
                            "(the engine runs KnobController, and TimeVaryingController on the block's own input)")
        return {}
    key, children = _children(block)
    if key:
        described = [_describe(child, _child_path(path, i), f"{prefix}{key}.{i}.", problems, computed) for i, child in enumerate(children)]
        node = {"type": type(block).__name__, "path": path, "params": _values(block), key: described}
        if isinstance(block, Parallel):
            node["latencies"] = [int(child.latency) for child in children]
        return node
    for cls, name, describe in ENGINE_BLOCKS:
        if isinstance(block, cls):
            tensors: Dict[str, Any] = {}
            try:
                node = {"type": name, "path": path, "params": _values(block), **describe(block, prefix, tensors)}
            except _Unsupported as reason:
                problems.append(f"{type(block).__name__} at {where}: {reason}")
                return {}
            for role, tensor in tensors.items():  # computed tensors get names no state dict key has
                if isinstance(tensor, torch.Tensor):
                    tensors[role] = f"engine.{prefix}{role}"
                    computed[tensors[role]] = tensor.detach()
            return {**node, "tensors": tensors} if tensors else node
    problems.append(f"{type(block).__name__} at {where}")
    return {}


def _driven(block: Controlled) -> List[Dict[str, Any]]:
    """Each parameter a controller drives with its range: its raw output maps into the range as in
    :meth:`Parameter.to_physical`."""
    specs = block.processor.specs
    return [{"name": n, "minimum": specs[n].minimum, "maximum": specs[n].maximum, "scale": specs[n].scale} for n in block.controller.names]


def _knob_controlled(block: Controlled, path: str, prefix: str, problems: List[str], computed: Dict[str, torch.Tensor]) -> Block:
    """A block whose parameters an MLP computes from the knobs: the MLP's weights and the driven parameters."""
    controller = block.controller
    linear = [i for i, module in enumerate(controller.body) if isinstance(module, torch.nn.Linear)]
    tensors = {f"body{k}.{kind}": f"{prefix}controller.body.{i}.{kind}" for k, i in enumerate(linear) for kind in ("weight", "bias")}
    tensors.update({f"output.{kind}": f"{prefix}controller.output.{kind}" for kind in ("weight", "bias")})
    return {
        "type": "KnobControlled", "path": path, "params": {},
        "num_knobs": controller.num_knobs, "hidden": controller.hidden, "layers": len(linear),
        "driven": _driven(block),
        "tensors": tensors,
        "block": _describe(block.processor, path, f"{prefix}processor.", problems, computed),
    }


def _time_varying(block: Controlled, path: str, prefix: str, problems: List[str], computed: Dict[str, torch.Tensor]) -> Block:
    """A block whose parameters a GRU over its input's frame levels computes: the GRU's and the output layer's weights."""
    controller = block.controller
    tensors = {kind: f"{prefix}controller.gru.{kind}_l0" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    tensors.update(output_weight=f"{prefix}controller.output.weight", output_bias=f"{prefix}controller.output.bias")
    return {
        "type": "TimeVarying", "path": path, "params": {},
        "hop": controller.hop, "hidden": controller.hidden, "num_knobs": controller.num_knobs,
        "driven": _driven(block),
        "tensors": tensors,
        "block": _describe(block.processor, path, f"{prefix}processor.", problems, computed),
    }


def _blocks(model: Processor, path: str = "") -> Dict[str, Processor]:
    """Every block by path (the root is ``""``)."""
    found = {path: model}
    for i, child in enumerate(_children(model)[1]):
        found.update(_blocks(child, _child_path(path, i)))
    return found


def _knob_parameter(spec: str) -> Tuple[str, str, str]:
    """``NAME=PATH:PARAMETER`` (``PATH`` may be empty for the root) as its three parts."""
    name, _, target = spec.partition("=")
    path, _, parameter = target.rpartition(":")
    if not name or not parameter or "=" not in spec or ":" not in target:
        raise ModelFileError(f"a knob is NAME=PATH:PARAMETER (e.g. drive=1:gain_db), got {spec!r}")
    return name, path, parameter


def engine_knobs(model: Processor, knobs: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """The knobs an exported model exposes.

    Args:
        model: the model.
        knobs: ``NAME=PATH:PARAMETER`` specs (a knob driving one block
            parameter, in that parameter's unit and range, its default the
            fitted value); by default every parameter of every block, named
            ``PATH:PARAMETER``. A model that reads knob inputs always exposes
            them first, as ``knob1 ...`` in [0, 1].

    Example:
        >>> from ddsp_kit.chain import Chain
        >>> from ddsp_kit.processors import Gain, Tanh
        >>> knobs = engine_knobs(Chain(Gain(48000, 6.0), Tanh(48000)), ["drive=0:gain_db"])
        >>> [(k["name"], k["unit"], k["minimum"], k["maximum"], round(k["default"], 3)) for k in knobs]
        [('drive', 'dB', -60.0, 24.0, 6.0)]
    """
    blocks = _blocks(model)
    exposed = [
        {"name": f"knob{i + 1}", "unit": "", "minimum": 0.0, "maximum": 1.0, "default": 0.5, "scale": "linear",
         "targets": [{"input": i}]}
        for i in range(int(model.num_knobs))
    ]
    if knobs is None:  # every parameter, named PATH:PARAMETER (the root's by their own name)
        chosen = [(f"{path}:{name}" if path else name, path, name) for path, block in blocks.items() for name in block.specs]
    else:
        chosen = [_knob_parameter(spec) for spec in knobs]
    for name, path, parameter in chosen:
        block = blocks.get(path)
        if block is None:
            raise ModelFileError(f"knob {name!r}: no block at path {path!r}; paths are {sorted(blocks)}")
        if parameter not in block.specs:
            raise ModelFileError(f"knob {name!r}: {type(block).__name__} at {path or 'the root'} has no parameter {parameter!r}; it has {list(block.specs)}")
        s = block.specs[parameter]
        exposed.append({
            "name": name, "unit": s.unit, "minimum": s.minimum, "maximum": s.maximum,
            "default": min(max(_values(block)[parameter], s.minimum), s.maximum), "scale": s.scale,
            "targets": [{"block": path, "parameter": parameter}],
        })
    names = [k["name"] for k in exposed]
    if len(set(names)) != len(names):
        raise ModelFileError(f"knob names must be unique, got {names}")
    return exposed


def golden_input(channels: int, samples: int = GOLDEN_SAMPLES, sample_rate: float = 48000.0) -> torch.Tensor:
    """A deterministic test signal ``(1, channels, samples)``: a log sweep with a level
    step (-30 to -6 dBFS, to move dynamics), plus a little noise, different per channel."""
    t = torch.arange(samples, dtype=torch.float64) / sample_rate
    duration = samples / sample_rate
    f0, f1 = 50.0, min(15000.0, 0.45 * sample_rate)
    phase = 2 * math.pi * f0 * duration / math.log(f1 / f0) * (torch.exp(t / duration * math.log(f1 / f0)) - 1)
    level = torch.where(torch.arange(samples) < samples // 2, 10 ** (-30 / 20), 10 ** (-6 / 20)).double()
    generator = torch.Generator().manual_seed(0)
    rows = [level * torch.sin(phase + c) + 1e-3 * torch.randn(samples, generator=generator, dtype=torch.float64) for c in range(channels)]
    return torch.stack(rows)[None].float()


def _engine_channels(model: Processor, channels: Optional[int]) -> int:
    nets = [b for b in _blocks(model).values() if isinstance(b, _NETS)]
    wanted = {b.in_channels for b in nets if b.in_channels > 1}
    if channels is None:
        channels = wanted.pop() if len(wanted) == 1 else 1
    if not isinstance(channels, int) or channels < 1:
        raise ModelFileError(f"channels must be an int >= 1, got {channels!r}")
    for net in nets:
        if net.in_channels not in (1, channels):
            raise ModelFileError(f"a net with {net.in_channels} input channels cannot run on {channels} channels")
    return channels


@torch.no_grad()
def _golden(model: Processor, channels: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Golden input and the model's output for it (run in float64 on a copy of the model)."""
    x = golden_input(channels, sample_rate=model.sample_rate)
    reference = copy.deepcopy(model).double().eval()
    # Knob inputs at their exposed default (0.5), as the engine starts.
    extra = {"knobs": torch.full((1, int(model.num_knobs)), 0.5, dtype=torch.float64)} if model.num_knobs else {}
    nets_mono = any(isinstance(b, _NETS) and b.in_channels == 1 for b in _blocks(model).values())
    if channels > 1 and nets_mono:  # a mono net runs once per channel, as the engine runs it
        y = torch.cat([reference(x[:, c : c + 1].double(), **extra).audio for c in range(channels)], 1)
    else:
        y = reference(x.double(), **extra).audio
    if y.shape != x.shape:
        raise ModelFileError(f"the model maps {channels} channel(s) to {y.shape[1]}: the engine needs as many out as in")
    if not bool(torch.isfinite(y).all()):
        raise ModelFileError("the model's output for the golden input holds NaN or Inf: refusing to export it")
    return x, y.float()


def engine_header(model: Processor, knobs: Optional[Sequence[str]] = None, channels: Optional[int] = None, name: Optional[str] = None) -> Dict[str, Any]:
    """The engine file's JSON header (validated), without the tensors."""
    return _header_and_computed(model, knobs, channels, name)[0]


def _header_and_computed(
    model: Processor, knobs: Optional[Sequence[str]], channels: Optional[int], name: Optional[str]
) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """The validated header and the tensors it names that the state dict lacks."""
    problems: List[str] = []
    computed: Dict[str, torch.Tensor] = {}
    tree = _describe(model, "", "", problems, computed)
    if problems:
        raise ModelFileError(
            "the plugin engine cannot run " + "; ".join(problems) + f". It runs {', '.join(ENGINE_TYPES)} "
            "(static parameters, knob-conditioned through a KnobController, or time-varying through a TimeVaryingController "
            "reading the block's input)"
        )
    header = {
        "format": FORMAT,
        "version": VERSION,
        "name": name or type(model).__name__,
        "sample_rate": float(model.sample_rate),
        "latency": int(model.latency),
        "channels": _engine_channels(model, channels),
        "knobs": engine_knobs(model, knobs),
        "model": tree,
        "golden": {"input": "golden.input", "output": "golden.output", "tolerance": GOLDEN_TOLERANCE},
    }
    validate_header(header)
    return header, computed


def validate_header(header: Dict[str, Any]) -> None:
    """Raise :class:`ModelFileError` unless ``header`` satisfies the engine schema (and non-finite numbers are absent)."""
    try:
        json.dumps(header, allow_nan=False)
        jsonschema.validate(header, _schema())
    except (ValueError, jsonschema.ValidationError) as error:
        message = error.message if isinstance(error, jsonschema.ValidationError) else str(error)
        where = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
        raise ModelFileError(f"invalid engine header{' at ' + where if where else ''}: {message}") from error


def _referenced_tensors(node: Block) -> List[str]:
    names = list(node.get("tensors", {}).values())
    for child in node.get("blocks", []) + node.get("branches", []) + ([node["block"]] if "block" in node else []):
        names += _referenced_tensors(child)
    return names


def export_engine(
    model: Processor,
    path: PathLike,
    knobs: Optional[Sequence[str]] = None,
    channels: Optional[int] = None,
    name: Optional[str] = None,
) -> Path:
    """Write the engine file of ``model`` (see the module docstring).

    Args:
        model: a processor tree of blocks the engine runs (``ENGINE_TYPES``).
        path: the file to write (conventionally ``*.engine.safetensors``).
        knobs: ``NAME=PATH:PARAMETER`` knob specs (:func:`engine_knobs`).
        channels: channels of the golden pair (default 1, or a net's input channels).
        name: the model's display name (default: its class name).

    Raises:
        ModelFileError: unsupported blocks (all named), bad knobs, an output that
            is not finite, or a header the schema rejects; nothing is written then.

    Example:
        >>> import tempfile, os
        >>> from ddsp_kit.models.presets import overdrive
        >>> path = export_engine(overdrive(48000), os.path.join(tempfile.mkdtemp(), "od.engine.safetensors"))
        >>> header = read_engine_header(path)
        >>> header["format"], [block["type"] for block in header["model"]["blocks"]]
        ('ddsp_kit.engine', ['ParametricEQ', 'Gain', 'Waveshaper', 'ParametricEQ'])
    """
    if not isinstance(model, Processor):
        raise TypeError(f"model must be a Processor, got {type(model).__name__}")
    header, computed = _header_and_computed(model, knobs, channels, name)
    state = {**model.state_dict(), **computed}
    tensors = {key: state[key].detach().float().cpu().contiguous().clone() for key in _referenced_tensors(header["model"])}
    for key, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"tensor {key!r} holds NaN or Inf: refusing to export a broken model")
    x, y = _golden(model, header["channels"])
    tensors["golden.input"], tensors["golden.output"] = x[0].contiguous(), y[0].contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata={METADATA_KEY: json.dumps(header, allow_nan=False)})
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def read_engine_header(path: PathLike) -> Dict[str, Any]:
    """The validated JSON header of an engine file.

    Raises:
        ModelFileError: missing, corrupt or foreign file, another major version, or a header the schema rejects.
    """
    header = read_metadata_json(path, METADATA_KEY, "engine")
    version = str(header.get("version", "")) if isinstance(header, dict) else ""
    if isinstance(header, dict) and header.get("format") == FORMAT and version.split(".")[0] != VERSION.split(".")[0]:
        raise ModelFileError(f"{path}: engine format version {version}; this ddsp_kit writes and reads {VERSION.split('.')[0]}.x")
    validate_header(header)
    return header
