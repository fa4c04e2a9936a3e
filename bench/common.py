"""Helpers shared by the benchmark scripts: timing, machine facts, the results file."""

import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence


def median_time(fn: Callable, repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def json_safe(value):
    """``value`` with non-finite floats written as strings ("nan", "inf"), which JSON lacks."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def machine_info() -> dict:
    """Platform, CPU model (from /proc/cpuinfo where there is one) and usable CPU count."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"platform": platform.platform(), "cpu": cpu, "nproc": nproc}


def write_section(path: Path, section: str, start_marker: str, end_marker: str) -> None:
    """Replace the section between the markers in ``path`` (or append it, creating the file if needed)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start, end = text.find(start_marker), text.find(end_marker)
    if start != -1 and end > start:
        rest = text[end + len(end_marker):]
        text = text[:start] + section + (rest[1:] if rest.startswith("\n") else rest)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_table_section(path: Path, script: str, title: str, setup: str, columns: Sequence[str], rows: Sequence[Sequence],
                        start_marker: str, end_marker: str) -> dict:
    """Write a results section: the title, the command line that made it (``python bench/<script> ...``), this
    machine, ``setup`` (what was measured, how), then a table of ``rows`` under ``columns``. Returns the machine."""
    machine = machine_info()
    command = f"python bench/{script} " + " ".join(sys.argv[1:])
    lines = [
        start_marker,
        f"## {title} (bench/{script})",
        "",
        f"`{command.strip()}` on {machine['cpu']} ({machine['platform']}){setup}",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
        end_marker,
    ]
    write_section(path, "\n".join(lines) + "\n", start_marker, end_marker)
    return machine
