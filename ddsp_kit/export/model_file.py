r"""The model file: one versioned, non-executable format for any processor or model.

A model file is a `safetensors <https://github.com/huggingface/safetensors>`_
file: the tensors of the model's ``state_dict`` (parameters and buffers,
bit-exact) and, in the header's metadata under the key ``"ddsp_kit"``, one
JSON document:

.. code-block:: json

    {"format": "ddsp_kit.model", "version": "1.0.0", "dtype": "float32",
     "sample_rate": 48000.0, "latency": 0, "num_knobs": 0,
     "parameters": {"peak1_gain_db": {"unit": "dB", "minimum": -24.0, ...}, ...},
     "model": {"type": "ParametricEQ", "args": {"sample_rate": 48000, "bands": 3, ...}}}

``model`` is the structure: each block's class name and the arguments it was
constructed with (``Processor.init_arguments``); nested blocks and
controllers appear as ``{"__block__": {...}}`` and tensor arguments as ``{"__tensor__":
{"shape": [...], "dtype": "float32"}}`` (their values are model parameters,
stored with the tensors). Nothing is ever unpickled: loading parses JSON and
reads raw tensor bytes, and only classes registered as processors can be
named.

Versioning: ``version`` is semantic. A reader accepts files of its own major
version (newer minor versions may add keys it ignores) and refuses any other
major version with a clear error, as it refuses files of another format.
"""

import inspect
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .. import chain, controllers, models, processors  # noqa: F401  (importing them registers every block class)
from ..processors.base import REGISTRY, Configurable, Processor

FORMAT = "ddsp_kit.model"
VERSION = "1.0.0"
METADATA_KEY = "ddsp_kit"
_BLOCK, _TENSOR = "__block__", "__tensor__"
_DTYPES = {str(dtype).removeprefix("torch."): dtype for dtype in (torch.float32, torch.float64, torch.float16, torch.int64, torch.bool)}

PathLike = Union[str, os.PathLike]


class ModelFileError(ValueError):
    """A model file that cannot be read or written: corrupt, foreign, from another major version, or invalid."""


def _encode(value: Any, where: str) -> Any:
    """An argument as JSON, with processors and tensors tagged."""
    if isinstance(value, Configurable):
        return {_BLOCK: block_config(value)}
    if isinstance(value, torch.Tensor):
        return {_TENSOR: {"shape": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")}}
    if isinstance(value, float) and not math.isfinite(value):
        raise ModelFileError(f"{where} is {value}, which JSON cannot hold")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(key, str) and not key.startswith("__") for key in value):
        return {key: _encode(item, f"{where}.{key}") for key, item in value.items()}
    raise ModelFileError(f"{where} is a {type(value).__name__}, which a model file cannot hold")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, dict):
        if _BLOCK in value:
            return build_block(value[_BLOCK])
        if _TENSOR in value:
            spec = value[_TENSOR]
            if spec.get("dtype") not in _DTYPES:
                raise ModelFileError(f"unsupported tensor dtype {spec.get('dtype')!r} in the model structure")
            return torch.zeros(spec["shape"], dtype=_DTYPES[spec["dtype"]])  # values come with the tensors
        return {key: _decode(item) for key, item in value.items()}
    return value


def block_config(block: Configurable) -> Dict[str, Any]:
    """``{"type": class name, "args": constructor arguments}`` of a block, JSON-ready.

    Example:
        >>> from ddsp_kit.processors import Gain
        >>> block_config(Gain(48000, gain_db=-6.0))
        {'type': 'Gain', 'args': {'sample_rate': 48000, 'gain_db': -6.0}}
    """
    name = type(block).__name__
    if REGISTRY.get(name) is not type(block):
        raise ModelFileError(f"{name} is not a registered block class (private classes cannot be saved)")
    return {"type": name, "args": _encode(block.init_arguments, name)}


def build_block(config: Dict[str, Any]) -> Configurable:
    """Rebuild a block (with its initial parameter values) from :func:`block_config`'s output."""
    if not isinstance(config, dict) or not isinstance(config.get("type"), str) or not isinstance(config.get("args"), dict):
        raise ModelFileError(f"a block must be {{'type': name, 'args': {{...}}}}, got {str(config)[:200]}")
    cls = REGISTRY.get(config["type"])
    if cls is None:
        raise ModelFileError(f"unknown block type {config['type']!r}: written by another version or another program?")
    arguments = {key: _decode(value) for key, value in config["args"].items()}
    positional, keywords = [], {}
    for name, parameter in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        if name not in arguments:
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            positional.extend(arguments.pop(name))
        elif parameter.kind is parameter.VAR_KEYWORD:
            keywords.update(arguments.pop(name))
        elif parameter.kind is parameter.POSITIONAL_ONLY:
            positional.append(arguments.pop(name))
        else:
            keywords[name] = arguments.pop(name)
    if arguments:
        raise ModelFileError(f"{config['type']} takes no argument(s) {sorted(arguments)}")
    try:
        return cls(*positional, **keywords)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"cannot rebuild {config['type']} from the model file: {error}") from error


def _float_dtype(model: Processor) -> str:
    """The one floating dtype of the model's tensors (a model is float32 or float64 as a whole)."""
    dtypes = {str(t.dtype).removeprefix("torch.") for t in model.state_dict().values() if t.is_floating_point()}
    if len(dtypes) > 1:
        raise ModelFileError(f"the model mixes floating dtypes {sorted(dtypes)}: convert it to one (model.float())")
    return dtypes.pop() if dtypes else "float32"


def _header(model: Processor) -> Dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "dtype": _float_dtype(model),
        "sample_rate": model.sample_rate,
        "latency": int(model.latency),
        "num_knobs": int(model.num_knobs),
        "parameters": {
            name: {
                "unit": s.unit, "minimum": s.minimum, "maximum": s.maximum, "default": s.default, "scale": s.scale,
                "static": s.static,
            }
            for name, s in model.specs.items()
        },
        "model": block_config(model),
    }


def _tensors(model: Processor) -> Dict[str, torch.Tensor]:
    tensors = {}
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"tensor {name!r} holds NaN or Inf: refusing to write a broken model")
        tensors[name] = tensor.detach().cpu().contiguous().clone()
    return tensors


def save_model(model: Processor, path: PathLike) -> Path:
    """Write ``model`` to ``path`` (a ``.safetensors`` file), validated before it is written.

    The structure is rebuilt from the JSON and loaded with the tensors before
    anything touches the disk; the file then appears atomically (written
    beside it and renamed), so a failure never leaves a half-written model.

    Example:
        >>> import tempfile, os
        >>> from ddsp_kit.processors import Biquad
        >>> path = os.path.join(tempfile.mkdtemp(), "peak.safetensors")
        >>> _ = save_model(Biquad(48000, "peak", 1000.0, 2.0, 6.0), path)
        >>> round(load_model(path).values()["gain_db"], 3)
        6.0
    """
    if not isinstance(model, Processor):
        raise TypeError(f"model must be a Processor, got {type(model).__name__}")
    header = _header(model)
    text = json.dumps(header, allow_nan=False)
    tensors = _tensors(model)
    _load_tensors(_rebuild(json.loads(text)), tensors)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata={METADATA_KEY: text})
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def _rebuild(header: Dict[str, Any]) -> Processor:
    """The model's structure, in the header's floating dtype, with initial values."""
    model = build_block(header.get("model"))
    if not isinstance(model, Processor):
        raise ModelFileError(f"the model is a {type(model).__name__}, not a processor")
    dtype = header.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"unsupported model dtype {dtype!r}")
    return model.to(_DTYPES[dtype])


def _load_tensors(model: Processor, tensors: Dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"tensors do not match the structure: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise ModelFileError(
                f"tensor {name!r} is {tuple(tensor.shape)} {tensor.dtype}, the structure wants "
                f"{tuple(expected[name].shape)} {expected[name].dtype}"
            )
    model.load_state_dict(tensors, strict=True)


def read_metadata_json(path: PathLike, key: str, what: str) -> Any:
    """The JSON document under metadata ``key`` of the safetensors file ``path`` (a ``what`` file).

    Raises:
        ModelFileError: missing or unreadable file, no such key (a foreign file), or invalid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such {what} file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path}: not a readable {what} file (corrupt, truncated or another format): {error}") from error
    if key not in metadata:
        raise ModelFileError(f"{path}: a safetensors file without a {key} header (a foreign file, or not a {what} file)")
    try:
        return json.loads(metadata[key])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: the {key} header is not valid JSON: {error}") from error


def read_header(path: PathLike) -> Dict[str, Any]:
    """The JSON header of a model file, checked for format and major version."""
    header = read_metadata_json(path, METADATA_KEY, "model")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: format {header.get('format') if isinstance(header, dict) else None!r}, expected {FORMAT!r}")
    version = str(header.get("version", ""))
    major = version.split(".")[0]
    if not major.isdigit():
        raise ModelFileError(f"{path}: unreadable version {version!r}")
    if major != VERSION.split(".")[0]:
        raise ModelFileError(f"{path}: format version {version}; this ddsp_kit reads {VERSION.split('.')[0]}.x (update ddsp_kit?)")
    return header


def load_model(path: PathLike) -> Processor:
    """Read a model file written by :func:`save_model` (any minor version of the same major).

    Raises:
        ModelFileError: missing, corrupt, truncated or foreign file, another major
            version, an unknown block type, or tensors that do not fit the structure.
    """
    header = read_header(path)
    model = _rebuild(header)
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path}: tensors unreadable (corrupt or truncated): {error}") from error
    _load_tensors(model, tensors)
    return model
