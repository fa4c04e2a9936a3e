"""Build driver for ``plugins/``: configures and builds the C++ engine tools and plugins with cmake.

The sources live in the repository's ``plugins/`` folder (beside the ``ddsp_kit`` package in a
checkout); the build needs ``cmake``, a C++17 compiler and Debian's ``libeigen3-dev`` and
``nlohmann-json3-dev`` (plus ``dpf-source`` for the plugins). Errors name what is missing.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Optional, Sequence

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


class BuildError(RuntimeError):
    """The plugins could not be configured or built (missing tools, or a compiler error)."""


def _run(command: Sequence[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BuildError(f"{what} failed ({' '.join(command)}):\n{tail}")


def build(
    targets: Sequence[str] = ("ddsp_kit_run",),
    build_dir: Optional[os.PathLike] = None,
    options: Optional[Dict[str, str]] = None,
    jobs: int = 2,
) -> Path:
    """Configure (once per build folder) and build ``targets``; return the build folder.

    Args:
        targets: cmake targets (``ddsp_kit_run``, ``ddsp_kit_fuzz``, the plugin targets).
        build_dir: the build folder (default ``plugins/build``).
        options: extra ``-D`` cache entries, e.g. ``{"DDSP_KIT_EMBED_MODEL": "/path/m.engine.safetensors"}``.
        jobs: parallel compile jobs.

    Raises:
        BuildError: no ``plugins/`` sources, no cmake or compiler, or a failed configure or build step.
    """
    if not (PLUGINS_DIR / "CMakeLists.txt").is_file():
        raise BuildError(f"the plugin sources are not at {PLUGINS_DIR} (build from a checkout of ddsp_kit)")
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed (Debian: apt-get install cmake g++ libeigen3-dev nlohmann-json3-dev dpf-source)")
    build_dir = Path(build_dir) if build_dir is not None else PLUGINS_DIR / "build"
    defines = [f"-D{key}={value}" for key, value in (options or {}).items()]
    if defines or not (build_dir / "CMakeCache.txt").is_file():
        _run(["cmake", "-S", str(PLUGINS_DIR), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", *defines], "configuring plugins/")
    _run(["cmake", "--build", str(build_dir), "-j", str(jobs), "--target", *targets], "building " + ", ".join(targets))
    return build_dir


def plugin_target(name: str) -> str:
    """The cmake target and bundle name of a per-model plugin: ``name`` as an identifier."""
    target = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower()
    if not target:
        raise BuildError(f"the plugin name {name!r} has no letters or digits")
    return target if target[0].isalpha() else f"m_{target}"


def build_plugin(engine_file: os.PathLike, name: str, output_dir: os.PathLike, build_dir: Optional[os.PathLike] = None) -> Dict[str, Path]:
    """Build LV2, VST3 and CLAP plugins with ``engine_file`` embedded; copy them into ``output_dir``.

    The plugin is named ``name`` (its parameters are the model's knobs); its URI, CLAP ID and VST3 ID
    derive from the name, so two models with different names can be loaded side by side.

    Returns:
        ``{"lv2": bundle, "vst3": bundle, "clap": file}``.

    Raises:
        BuildError: as :func:`build`.
    """
    target = plugin_target(name)
    build_dir = Path(build_dir) if build_dir is not None else PLUGINS_DIR / "build"
    embedded = build_dir / "embedded" / f"{target}.engine.safetensors"
    embedded.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(engine_file, embedded)  # kept beside the build: cmake re-reads it when it reconfigures
    options = {"DDSP_KIT_EMBED_MODEL": str(embedded), "DDSP_KIT_PLUGIN_NAME": name, "DDSP_KIT_PLUGIN_TARGET": target}
    build([f"{target}-all"], build_dir, options)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    built = {"lv2": f"{target}.lv2", "vst3": f"{target}.vst3", "clap": f"{target}.clap"}
    result = {}
    for kind, file_name in built.items():
        source, destination = build_dir / "bin" / file_name, output_dir / file_name
        if destination.is_dir():
            shutil.rmtree(destination)
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, destination)
        result[kind] = destination
    return result
