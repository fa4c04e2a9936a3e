"""Build driver for ``plugins/``: configures and builds the C++ engine tools and plugins with cmake.

The sources live in the repository's ``plugins/`` folder (beside the ``ddsp_kit`` package in a
checkout); the build needs ``cmake``, a C++17 compiler and Debian's ``libeigen3-dev`` and
``nlohmann-json3-dev`` (plus ``dpf-source`` for the plugins). Errors name what is missing.
"""

import os
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
