"""Model files (Python's own format) and engine files (what the real-time C++ engine loads): data only, versioned, validated."""

from .engine_file import ENGINE_TYPES, engine_header, engine_knobs, export_engine, golden_input, read_engine_header
from .model_file import FORMAT, VERSION, ModelFileError, block_config, build_block, load_model, read_header, save_model

__all__ = [
    "ENGINE_TYPES", "FORMAT", "VERSION", "ModelFileError", "block_config", "build_block", "engine_header", "engine_knobs",
    "export_engine", "golden_input", "load_model", "read_engine_header", "read_header", "save_model",
]
