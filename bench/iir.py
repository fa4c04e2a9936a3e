"""Benchmark of the ddsp_kit IIR kernels against peer implementations on CPU.

Every case filters a seeded ``batch x samples`` float32 white-noise signal
(default 8 x 441000: 10 s at 44.1 kHz, eight signals):

``first_order_tv``
    Time-varying one-pole ``h[t] = a[t] h[t-1] + x[t]``, ``a[t]`` uniform in
    (0.5, 0.999). Ours: ``kernels.linear_recurrence``. Peers: ``torchlpc``
    (order 1, coefficient ``-a``), Python loop.
``biquad_ti``
    Time-invariant resonant low-pass biquad (poles at radius 0.99, 1 kHz; unit
    DC gain). Ours: ``functional.lfilter``. Peers: ``torchaudio`` lfilter,
    ``scipy.signal.lfilter`` (forward only), ``torchlpc`` (order 2, the
    constant denominator expanded over time, after the same FIR numerator as a
    ``conv1d``), Python loop.
``biquad_tv``
    Time-varying two-pole resonator with a per-sample complex pole (angle swept
    250 Hz - 4 kHz by a 0.5 Hz LFO, radius 0.95 - 0.99 by a 0.3 Hz LFO). Ours:
    ``functional.biquad`` (modal realisation). Peers: ``torchlpc`` and the
    Python loop on the direct-form coefficients ``a1 = -2 Re p``,
    ``a2 = |p|^2`` computed from the same pole inside the timed call. The
    direct form and the modal form differ while the pole moves, so their output
    difference is reported, not checked.
``allpole10_tv``
    Order-10 time-varying all-pole: five conjugate pole pairs (radius 0.90 -
    0.95; centred at 0.5, 1.5, 3, 6 and 10 kHz, each swept +-1/4 octave by a
    slow LFO) expanded to direct-form coefficients per sample. The poles are
    spread over the band because clustered poles make the order-10 direct
    form so ill-conditioned that rounding its coefficients to float32 moves
    poles outside the unit circle. Ours: ``functional.allpole``. Peers:
    ``torchlpc``, Python loop.

What is timed, per (case, implementation), as the median of ``--repeats``
calls after one untimed warm-up call (so numba compilation is not counted):

* forward: the filter call under ``torch.no_grad()``;
* forward+backward: the call with ``x`` and the coefficients (or pole)
  requiring grad, then ``(y * g).sum().backward()`` with a fixed random ``g``.
  Gradients flow to ``x`` and to the coefficient / pole tensors.

Ours runs once per available kernel backend. The Python loop (one time step
per Python iteration, autograd through per-sample torch ops) runs on the first
``--loop-samples`` samples and its times are scaled linearly to the full
length. scipy is timed forward only. Peers that do not import are skipped.

Ratios are ``peer time / our time`` (above 1: ours is faster), against our
best backend and against each backend. Correctness: the max abs difference
between our output (each backend) and every peer's timed float32 output (the
Python loop's on its prefix), and against a reference: one peer run once more,
untimed, in float64 on the same values (float32 direct forms drift far from the
exact output on the order-10 case). The reference difference is checked
against a tolerance relative to the reference's peak, except for biquad_tv.

Prints one JSON document to stdout; unless ``--no-write``, also replaces the
section between ``<!-- iir:start -->`` and ``<!-- iir:end -->`` in the
results markdown file (leaving the rest of the file as it is). Exits with
status 1 when a checked output difference exceeds its tolerance.
"""

import argparse
import datetime
import importlib
import importlib.metadata
import json
import math
import platform
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

try:
    import numba
except ImportError:  # optional for ddsp_kit: only its torch backend runs then
    numba = None

from ddsp_kit.functional import allpole, biquad, lfilter
from ddsp_kit.kernels import available_backends, linear_recurrence

from common import json_safe, machine_info, median_time, write_section

FS = 44100.0
RESULTS_START = "<!-- iir:start -->"
RESULTS_END = "<!-- iir:end -->"
# A checked output may differ from its reference by this fraction of the reference's peak.
RELATIVE_TOLERANCE = 1e-3
PEER_MODULES = {"torchaudio": "torchaudio.functional", "torchlpc": "torchlpc", "scipy": "scipy.signal"}


def _import_peers():
    """Import each peer; returns ``({name: module}, {name: version or why it is missing})``."""
    modules, versions = {}, {}
    for name, module in PEER_MODULES.items():
        try:
            modules[name] = importlib.import_module(module)
        except ImportError:
            versions[name] = "not installed"
            continue
        except Exception as error:  # a compiled extension built for another torch can fail otherwise
            versions[name] = f"not installed (import failed: {type(error).__name__}: {error})"
            continue
        versions[name] = importlib.metadata.version(name)
    return modules, versions


def _peer_builds(peers: dict) -> dict:
    """The code path each compiled peer runs: their fallbacks time very differently."""
    paths = {True: "C++ extension", None: "unknown"}
    builds = {}
    if "torchaudio" in peers:
        loaded = getattr(sys.modules.get("torchaudio.functional.filtering"), "_IS_TORCHAUDIO_EXT_AVAILABLE", None)
        builds["torchaudio"] = {**paths, False: "Python loop fallback"}[loaded]
    if "torchlpc" in peers:
        builds["torchlpc"] = {**paths, False: "numba fallback"}[getattr(peers["torchlpc"], "EXTENSION_LOADED", None)]
    return builds


# Implementations. Each takes the case's tensors (``x`` first) and returns y (B, T).


def python_loop(x: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Direct form ``y[t] = sum_k b_k[t] x[t-k] - sum_k a_k[t] y[t-1-k]``, one
    Python iteration per sample. ``b`` is ``(B or 1, T or 1, nb)``, ``a`` ``(B or 1, T or 1, M)``.

    Inputs are split per sample with ``unbind`` (one backward node) rather than
    indexed per sample, whose backward would write a full-size gradient at
    every step and make the loop's cost quadratic in its length.
    """
    batch, steps = x.shape
    zeros = x.new_zeros(batch)
    past_x = [zeros] * (b.shape[-1] - 1)
    past_y = [zeros] * a.shape[-1]
    xs, bs, as_ = x.unbind(1), b.unbind(1), a.unbind(1)
    outputs = []
    for t, xt in enumerate(xs):
        bt = bs[t if len(bs) > 1 else 0]
        at = as_[t if len(as_) > 1 else 0]
        y = bt[:, 0] * xt
        for k, xk in enumerate(past_x, 1):
            y = y + bt[:, k] * xk
        for k, yk in enumerate(past_y):
            y = y - at[:, k] * yk
        past_x = ([xt] + past_x)[: len(past_x)]
        past_y = ([y] + past_y)[: len(past_y)]
        outputs.append(y)
    return torch.stack(outputs, -1)


def _fir(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_k b_k x[t-k]`` for a shared 1-D ``b`` (used before torchlpc's all-pole)."""
    return F.conv1d(F.pad(x.unsqueeze(1), (b.shape[0] - 1, 0)), b.flip(0).view(1, 1, -1)).squeeze(1)


def _direct_form(pole: torch.Tensor) -> torch.Tensor:
    """Denominator ``[a1, a2]`` per sample of the pole pair ``p, conj(p)``: ``(..., T, 2)``."""
    return torch.stack([-2 * pole.real, pole.real.square() + pole.imag.square()], -1)


@dataclass
class Case:
    """One benchmark case.

    ``tensors`` are the differentiable inputs, ``x`` first; ``per_sample``
    names those with a time axis (dim 1), which the Python loop slices.
    ``ours(tensors, backend)`` and each ``peers[name](tensors)`` return y;
    ``forward_only[name](tensors)`` returns a numpy array. ``reference`` lists
    peers in order of preference for the float64 reference output (the Python
    loop, on its prefix, is the last resort); ``checked`` is False where ours
    is, by design, a different filter from the reference.
    """

    name: str
    description: str
    tensors: Dict[str, torch.Tensor]
    per_sample: tuple
    ours: Callable
    loop: Callable
    peers: Dict[str, Callable] = field(default_factory=dict)
    forward_only: Dict[str, Callable] = field(default_factory=dict)
    reference: tuple = ()
    checked: bool = True


def _lfo(steps: int, hz: float, phase: torch.Tensor) -> torch.Tensor:
    """``sin(2 pi hz t / FS + phase)``, ``(len(phase), steps)`` in float64."""
    t = torch.arange(steps, dtype=torch.float64) / FS
    return torch.sin(2 * math.pi * hz * t + phase[:, None])


def build_cases(batch: int, steps: int, peers: dict, generator: torch.Generator):
    """The four cases on one shared input signal."""
    x = torch.randn(batch, steps, generator=generator)
    cases = []

    def phases():
        return 2 * math.pi * torch.rand(batch, generator=generator, dtype=torch.float64)

    # first_order_tv
    coef = 0.5 + 0.499 * torch.rand(batch, steps, generator=generator)
    case = Case(
        "first_order_tv",
        "h[t] = a[t] h[t-1] + x[t], a[t] uniform in (0.5, 0.999)",
        {"x": x, "a": coef},
        ("x", "a"),
        ours=lambda v, backend: linear_recurrence(v["x"], v["a"], backend=backend),
        loop=lambda v: python_loop(v["x"], v["x"].new_ones(1, 1, 1), -v["a"].unsqueeze(-1)),
        reference=("torchlpc",),
    )
    if "torchlpc" in peers:
        lpc = peers["torchlpc"]
        case.peers["torchlpc"] = lambda v: lpc.sample_wise_lpc(v["x"], -v["a"].unsqueeze(-1))
    cases.append(case)

    # biquad_ti: resonant low-pass, poles 0.99 exp(+-j 2 pi 1 kHz / FS), unit DC gain.
    w = 2 * math.pi * 1000.0 / FS
    a1, a2 = -2 * 0.99 * math.cos(w), 0.99**2
    gain = (1 + a1 + a2) / 4
    b_ti = torch.tensor([gain, 2 * gain, gain])
    a_ti = torch.tensor([1.0, a1, a2])
    case = Case(
        "biquad_ti",
        "time-invariant resonant low-pass biquad, poles at radius 0.99 / 1 kHz",
        {"x": x, "b": b_ti, "a": a_ti},
        ("x",),
        ours=lambda v, backend: lfilter(v["x"], v["b"], v["a"], backend=backend),
        loop=lambda v: python_loop(
            v["x"], (v["b"] / v["a"][0]).view(1, 1, -1), (v["a"][1:] / v["a"][0]).view(1, 1, -1)
        ),
        reference=("scipy", "torchaudio", "torchlpc"),
    )
    if "torchaudio" in peers:
        audio = peers["torchaudio"]
        case.peers["torchaudio"] = lambda v: audio.lfilter(v["x"], v["a"], v["b"], clamp=False)
    if "torchlpc" in peers:
        lpc = peers["torchlpc"]
        case.peers["torchlpc"] = lambda v: lpc.sample_wise_lpc(
            _fir(v["x"], v["b"] / v["a"][0]), (v["a"][1:] / v["a"][0]).expand(v["x"].shape[0], v["x"].shape[1], 2)
        )
    if "scipy" in peers:
        signal = peers["scipy"]
        case.forward_only["scipy"] = lambda v: signal.lfilter(
            v["b"].detach().numpy(), v["a"].detach().numpy(), v["x"].detach().numpy(), axis=-1
        )
    cases.append(case)

    # biquad_tv: pole swept 250 Hz - 4 kHz (0.5 Hz LFO), radius 0.95 - 0.99 (0.3 Hz LFO).
    hz = 1000.0 * 2.0 ** (2.0 * _lfo(steps, 0.5, phases()))
    radius = 0.97 + 0.02 * _lfo(steps, 0.3, phases())
    pole = torch.polar(radius, 2 * math.pi * hz / FS).to(torch.complex64)
    case = Case(
        "biquad_tv",
        "two-pole resonator, per-sample pole swept 250 Hz-4 kHz, radius 0.95-0.99",
        {"x": x, "pole": pole},
        ("x", "pole"),
        ours=lambda v, backend: biquad(v["x"], v["pole"], backend=backend),
        loop=lambda v: python_loop(v["x"], v["x"].new_ones(1, 1, 1), _direct_form(v["pole"])),
        reference=("torchlpc",),
        checked=False,
    )
    if "torchlpc" in peers:
        lpc = peers["torchlpc"]
        case.peers["torchlpc"] = lambda v: lpc.sample_wise_lpc(v["x"], _direct_form(v["pole"]))
    cases.append(case)

    # allpole10_tv: five slowly moving conjugate pole pairs, expanded per sample.
    denominator = torch.ones(batch, steps, 1, dtype=torch.float64)
    for base_hz in (500.0, 1500.0, 3000.0, 6000.0, 10000.0):
        angle = 2 * math.pi * base_hz * 2.0 ** (0.25 * _lfo(steps, 0.25, phases())) / FS
        r = 0.925 + 0.025 * _lfo(steps, 0.2, phases())
        section = torch.stack([torch.ones_like(r), -2 * r * torch.cos(angle), r * r], -1)
        padded = F.pad(denominator, (2, 2))
        denominator = sum(section[..., k : k + 1] * padded[..., 2 - k : padded.shape[-1] - k] for k in range(3))
    coeffs = denominator[..., 1:].to(torch.float32)
    del denominator
    case = Case(
        "allpole10_tv",
        "order-10 all-pole, five conjugate pole pairs (radius 0.90-0.95, 0.5-10 kHz) moving slowly",
        {"x": x, "a": coeffs},
        ("x", "a"),
        ours=lambda v, backend: allpole(v["x"], v["a"], backend=backend),
        loop=lambda v: python_loop(v["x"], v["x"].new_ones(1, 1, 1), v["a"]),
        reference=("torchlpc",),
    )
    if "torchlpc" in peers:
        lpc = peers["torchlpc"]
        case.peers["torchlpc"] = lambda v: lpc.sample_wise_lpc(v["x"], v["a"])
    cases.append(case)
    return cases


def _measure(call: Callable, tensors: Dict[str, torch.Tensor], g: torch.Tensor, repeats: int, backward: bool = True):
    """Time ``call(tensors)`` forward and, if ``backward``, forward+backward.

    Returns ``(timings, forward output)``.
    """
    leaves = {name: t.detach().clone().requires_grad_(backward) for name, t in tensors.items()}
    output = {}

    def forward():
        with torch.no_grad():
            output["y"] = call(leaves)

    def forward_backward():
        for leaf in leaves.values():
            leaf.grad = None
        (call(leaves) * g).sum().backward()

    timings = {"forward_s": median_time(forward, repeats)}
    timings["forward_backward_s"] = median_time(forward_backward, repeats) if backward else None
    y = output["y"]
    return timings, torch.as_tensor(y).to(torch.float32)


def _double(tensors: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Detached float64 / complex128 copies."""
    return {
        name: t.detach().to(torch.complex128 if t.is_complex() else torch.float64) for name, t in tensors.items()
    }


def _worst(errors) -> float:
    """Largest error, NaN if any is NaN (``max`` alone may skip a NaN)."""
    return max(errors, key=lambda e: math.inf if math.isnan(e) else e)


def _ratio(peer: Optional[float], ours: Optional[float]) -> Optional[float]:
    return None if peer is None or ours is None else peer / ours


def run_case(case: Case, backends: list, g: torch.Tensor, repeats: int, loop_samples: int) -> dict:
    """Time every implementation of ``case``; ratios and output differences included."""
    steps = case.tensors["x"].shape[-1]
    ours, outputs = {}, {}
    for backend in backends:
        timings, outputs[backend] = _measure(lambda v: case.ours(v, backend), case.tensors, g, repeats)
        ours[backend] = timings
    best = {
        key: min(backends, key=lambda backend: ours[backend][key]) for key in ("forward_s", "forward_backward_s")
    }

    peers, peer_outputs = {}, {}
    for name, call in case.peers.items():
        peers[name], peer_outputs[name] = _measure(call, case.tensors, g, repeats)
    for name, call in case.forward_only.items():
        peers[name], peer_outputs[name] = _measure(call, case.tensors, g, repeats, backward=False)
    n = min(loop_samples, steps)
    sliced = {k: t[:, :n] if k in case.per_sample else t for k, t in case.tensors.items()}
    timings, peer_outputs["python_loop"] = _measure(case.loop, sliced, g[:, :n], repeats)
    peers["python_loop"] = {k: v * steps / n for k, v in timings.items()}
    peers["python_loop"]["extrapolated_from_samples"] = n

    speedups = {}
    for name, peer in peers.items():
        against = {"best": {key: _ratio(peer[key], ours[best[key]][key]) for key in best}}
        for backend in backends:
            against[backend] = {key: _ratio(peer[key], ours[backend][key]) for key in best}
        speedups[f"speedup_vs_{name}"] = against

    def difference(y: torch.Tensor) -> dict:
        return {backend: float((outputs[backend][:, : y.shape[-1]] - y).abs().max()) for backend in backends}

    reference = next((name for name in case.reference if name in peer_outputs), "python_loop")
    calls = {**case.peers, **case.forward_only, "python_loop": case.loop}
    with torch.no_grad():
        exact = torch.as_tensor(calls[reference](_double(sliced if reference == "python_loop" else case.tensors)))
    peak = float(exact.abs().max())
    errors = difference(exact)
    correctness = {
        "reference": f"{reference} (float64)",
        "reference_samples": exact.shape[-1],
        "reference_max_abs": peak,
        "max_abs_diff": errors,
        "checked": case.checked,
        "tolerance": RELATIVE_TOLERANCE * peak if case.checked else None,
        "ok": _worst(errors.values()) <= RELATIVE_TOLERANCE * peak if case.checked else None,  # False for NaN
        "max_abs_diff_vs_peers_float32": {name: difference(y) for name, y in peer_outputs.items()},
    }
    return {
        "description": case.description,
        "ours": ours,
        "best_backend": best,
        "peers": peers,
        **speedups,
        "correctness": correctness,
    }


def evaluate_targets(results: dict) -> list:
    """The performance targets, with pass/fail (None where the peer is missing)."""

    def speedup(case, peer):
        entry = results[case].get(f"speedup_vs_{peer}")
        return None if entry is None else entry["best"]["forward_backward_s"]

    targets = []
    value = speedup("biquad_ti", "torchaudio")
    targets.append({
        "target": "biquad_ti forward+backward >= 20x faster than torchaudio lfilter",
        "value": value, "threshold": 20.0, "pass": None if value is None else value >= 20.0,
    })
    for case in ("biquad_tv", "allpole10_tv"):
        value = speedup(case, "torchlpc")
        targets.append({
            "target": f"{case} forward+backward faster than torchlpc (aim 2x)",
            "value": value, "threshold": 1.0, "aim": 2.0,
            "pass": None if value is None else value > 1.0,
            "meets_aim": None if value is None else value >= 2.0,
        })
    entry = results["biquad_ti"].get("speedup_vs_scipy")
    value = None if entry is None else 1.0 / entry["best"]["forward_s"]
    targets.append({
        "target": "biquad_ti forward within 1.5x of scipy lfilter (ours / scipy <= 1.5)",
        "value": value, "threshold": 1.5, "pass": None if value is None else value <= 1.5,
    })
    return targets


# Markdown report.


def _seconds(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.4g}"


def _times(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.3g}x"


def render_markdown(report: dict) -> str:
    builds = report["peer_builds"]
    versions = ", ".join(
        f"{name} {version}" + (f" ({builds[name]})" if name in builds else "")
        for name, version in report["versions"].items()
    )
    machine = report["machine"]
    lines = [
        RESULTS_START,
        "## IIR kernels (bench/iir.py)",
        "",
        f"- machine: {machine['cpu']}, {machine['nproc']} CPUs ({machine['platform']}); "
        f"torch threads {report['threads']['torch']}, numba threads {report['threads']['numba']}",
        f"- versions: {versions}",
        f"- date: {report['date']}",
        f"- command: `{report['command']}`",
        f"- signal: {report['sizes']['batch']} x {report['sizes']['samples']} float32; median of "
        f"{report['sizes']['repeats']} runs after one warm-up; python loop timed on "
        f"{report['sizes']['loop_samples']} samples and scaled to the full length",
        "",
        "Ratio vs ours: peer time / our best time (forward · forward+backward), above 1 means ours is "
        "faster; for our backends, time / best backend time.",
        "",
        "| case | implementation | forward s | forward+backward s | ratio vs ours |",
        "|---|---|---|---|---|",
    ]
    for case, result in report["cases"].items():
        best = result["best_backend"]
        for backend, timings in result["ours"].items():
            ratio = " · ".join(
                _times(timings[key] / result["ours"][best[key]][key]) for key in ("forward_s", "forward_backward_s")
            )
            lines.append(
                f"| {case} | ddsp_kit ({backend}) | {_seconds(timings['forward_s'])} | "
                f"{_seconds(timings['forward_backward_s'])} | {ratio} |"
            )
        for peer, timings in result["peers"].items():
            against = result[f"speedup_vs_{peer}"]["best"]
            label = peer + (" (extrapolated)" if "extrapolated_from_samples" in timings else "")
            lines.append(
                f"| {case} | {label} | {_seconds(timings['forward_s'])} | "
                f"{_seconds(timings['forward_backward_s'])} | "
                f"{_times(against['forward_s'])} · {_times(against['forward_backward_s'])} |"
            )
    lines += ["", "Targets:", ""]
    for target in report["targets"]:
        verdict = {True: "pass", False: "FAIL", None: "skipped (peer not installed)"}[target["pass"]]
        value = "" if target["value"] is None else f" (measured {target['value']:.3g})"
        lines.append(f"- {target['target']}: {verdict}{value}")
    lines += ["", "Output check (largest max abs difference over our backends from a float64 reference):", ""]
    for case, result in report["cases"].items():
        check = result["correctness"]
        worst = _worst(check["max_abs_diff"].values())
        verdict = "ok" if check["ok"] else ("reported only" if check["ok"] is None else "FAIL")
        lines.append(
            f"- {case} vs {check['reference']}: {worst:.3g} (reference peak {check['reference_max_abs']:.3g}; "
            f"{verdict})"
        )
    lines.append(RESULTS_END)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="signals per call (default 8)")
    parser.add_argument("--samples", type=int, default=441000, help="samples per signal (default 441000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (default 5)")
    parser.add_argument("--loop-samples", type=int, default=2000, help="samples the Python loop runs (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the signal and coefficients (default 0)")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md",
        help="markdown file whose iir section is replaced (default bench/RESULTS.md)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)

    peers, versions = _import_peers()

    generator = torch.Generator().manual_seed(args.seed)
    cases = build_cases(args.batch, args.samples, peers, generator)
    g = torch.randn(args.batch, args.samples, generator=generator)
    backends = available_backends()
    results = {}
    for case in cases:
        print(f"[iir] {case.name} ...", file=sys.stderr, flush=True)
        results[case.name] = run_case(case, backends, g, args.repeats, args.loop_samples)

    report = {
        "benchmark": "bench/iir.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": machine_info(),
        "threads": {"torch": torch.get_num_threads(), "numba": numba.get_num_threads() if numba else None},
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numba": numba.__version__ if numba else "not installed",
            "numpy": np.__version__,
            "ddsp_kit": importlib.metadata.version("ddsp_kit"),
            **versions,
        },
        "peer_builds": _peer_builds(peers),
        "sizes": {
            "batch": args.batch,
            "samples": args.samples,
            "seconds_at_44100": args.samples / FS,
            "dtype": "float32",
            "repeats": args.repeats,
            "loop_samples": min(args.loop_samples, args.samples),
            "seed": args.seed,
        },
        "backends": backends,
        "cases": results,
    }
    report["targets"] = evaluate_targets(results)
    print(json.dumps(json_safe(report), indent=2, allow_nan=False))
    if not args.no_write:
        write_section(args.results, render_markdown(report), RESULTS_START, RESULTS_END)
    failed = [name for name, result in results.items() if result["correctness"]["ok"] is False]
    if failed:
        print(f"[iir] output check failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
