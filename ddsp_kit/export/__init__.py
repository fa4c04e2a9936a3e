"""Model files (and, later, plugin export): data only, versioned, validated."""

from .model_file import FORMAT, VERSION, ModelFileError, block_config, build_block, load_model, read_header, save_model

__all__ = ["FORMAT", "VERSION", "ModelFileError", "block_config", "build_block", "load_model", "read_header", "save_model"]
