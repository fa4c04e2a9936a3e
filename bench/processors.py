"""Benchmark of ddsp_kit's processors: forward+backward cost per second of audio.

Every case runs a seeded float32 white-noise batch (default 8 signals x 1 s at
48 kHz, mono) through one processor and times, as the median of ``--repeats``
calls after a warm-up, the forward pass alone and forward + backward of a
mean-square loss (gradients to the input and every learnable parameter).
Cases with ``_tv`` drive their parameters with per-sample controls (a slow
LFO on every parameter), the others use the learnable static values.

Peers, measured in the same run where they are installed (see bench/README.md):

``dasp_pytorch`` parametric EQ
    The six-band EQ of dasp-pytorch (low shelf, four peaks, high shelf) by
    frequency sampling: the signal's FFT times the sections' frequency response
    (a circular, truncated approximation of the recursive filter). Compared to
    our ``peq6`` (the same bands, exact recursive filtering).
``nablafx`` biquad
    NablAFx's training-time filter, ``sosfilt_via_fsm`` (frequency sampling as
    well), on one peak section; compared to our ``biquad_peak``.
``torchcomp`` compressor
    torchcomp's feed-forward compressor (RMS detector, ``compexp_gain`` with
    its recorded-branch attack/release on the linear gain, expander disabled);
    compared to our ``compressor_rms`` (RMS detector, attack/release on the gain
    in dB). Same role and settings, not the same definition: time only.
``dasp_pytorch`` compressor
    dasp-pytorch's compressor (two one-pole smoothers standing in for the
    attack/release branch); compared to ``compressor_rms``, time only.

For the filter peers, the error of the peer and of ours against
``scipy.signal.sosfilt`` in float64 (the exact recursive filter) is reported,
as a fraction of the reference's peak.

The JSON report goes to stdout; the markdown table replaces the section between
``<!-- processors:start -->`` and ``<!-- processors:end -->`` of bench/RESULTS.md.
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
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np
import torch

from common import json_safe, machine_info, median_time, write_section
from ddsp_kit.functional import biquad_design
from ddsp_kit.models import TCN, RecurrentModel, S4DModel
from ddsp_kit.processors import (
    ADSR,
    Biquad,
    Chorus,
    Compressor,
    ConvolutionReverb,
    DCBlocker,
    FeedbackComb,
    FeedbackDelayNetwork,
    FIRFilter,
    FilteredNoise,
    Flanger,
    FractionalDelay,
    HardClip,
    HarmonicSynth,
    Limiter,
    LPCFilter,
    MLPWaveshaper,
    NoiseGate,
    NoiseReverb,
    OnePole,
    Pan,
    ParametricEQ,
    Phaser,
    Sawtooth,
    Sine,
    StateVariableFilter,
    Tanh,
    Tremolo,
    Wavetable,
    WhiteNoise,
)

FS = 48000
RESULTS_START = "<!-- processors:start -->"
RESULTS_END = "<!-- processors:end -->"

# The six bands both EQs use: (kind, Hz, Q, dB).
PEQ_BANDS = [
    ("lowshelf", 100.0, 0.7071, 3.0),
    ("peak", 300.0, 1.5, -4.0),
    ("peak", 1000.0, 2.0, 5.0),
    ("peak", 3000.0, 1.0, -6.0),
    ("peak", 6000.0, 3.0, 2.0),
    ("highshelf", 10000.0, 0.7071, -3.0),
]


def _peq() -> ParametricEQ:
    names = ["low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf"]
    initial = {}
    for name, (_, hz, q, db) in zip(names, PEQ_BANDS):
        initial.update({f"{name}_frequency": hz, f"{name}_q": q, f"{name}_gain_db": db})
    return ParametricEQ(FS, bands=4, **initial)


# name -> (factory, description). Factories build a fresh float32 processor.
CASES: Dict[str, tuple] = {
    "one_pole": (lambda: OnePole(FS, "lowpass", 2000.0), "first-order low-pass"),
    "dc_blocker": (lambda: DCBlocker(FS, 10.0), "DC blocker"),
    "biquad_peak": (lambda: Biquad(FS, "peak", 1000.0, 2.0, 6.0), "RBJ peak, static"),
    "biquad_peak_tv": (lambda: Biquad(FS, "peak", 1000.0, 2.0, 6.0), "RBJ peak, per-sample controls"),
    "peq6": (_peq, "low shelf + 4 peaks + high shelf, static"),
    "peq6_tv": (_peq, "same, per-sample controls"),
    "svf_lowpass_tv": (lambda: StateVariableFilter(FS, "lowpass", 1000.0, 4.0), "TPT SVF, per-sample controls"),
    "fir_512": (lambda: FIRFilter(FS, torch.randn(512) / 512**0.5), "512-tap FIR (FFT)"),
    "lpc16_tv": (lambda: LPCFilter(FS, order=16), "order-16 LPC, per-sample reflection coefficients"),
    "compressor_peak": (lambda: Compressor(FS), "peak detector, gain smoothing in dB"),
    "compressor_rms": (lambda: Compressor(FS, detector="rms"), "RMS detector (10 ms), gain smoothing in dB"),
    "compressor_tv": (lambda: Compressor(FS), "peak, per-sample controls"),
    "limiter_lookahead": (lambda: Limiter(FS, lookahead_ms=5.0), "limiter, 5 ms look-ahead"),
    "noise_gate": (lambda: NoiseGate(FS), "noise gate"),
    "tanh": (lambda: Tanh(FS, input_gain_db=12.0), "tanh soft clip"),
    "hard_clip_os4": (lambda: HardClip(FS, input_gain_db=12.0, oversampling=4), "smooth hard clip, 4x oversampling"),
    "mlp_waveshaper": (lambda: MLPWaveshaper(FS), "MLP waveshaper (default size)"),
    "pan": (lambda: Pan(FS, pan=0.3), "constant-power pan, mono to stereo"),
    "convolution_reverb_1s": (lambda: ConvolutionReverb(FS), "convolution reverb, 1 s learnable IR (FFT)"),
    "noise_reverb_1s": (lambda: NoiseReverb(FS), "DDSP noise-IR reverb, 1 s, 4 bands"),
    "fdn8": (lambda: FeedbackDelayNetwork(FS), "feedback delay network, 8 lines"),
    "fractional_delay_tv": (lambda: FractionalDelay(FS, 5.0), "fractional delay, per-sample delay"),
    "feedback_comb": (lambda: FeedbackComb(FS, 5.0), "feedback comb, learnable 5 ms delay"),
    "chorus": (lambda: Chorus(FS), "chorus"),
    "flanger": (lambda: Flanger(FS, feedback=0.5), "flanger with feedback"),
    "phaser": (lambda: Phaser(FS), "phaser, 4 stages"),
    "tremolo": (lambda: Tremolo(FS), "tremolo"),
    "sine_tv": (lambda: Sine(FS, 440.0), "sine, per-sample frequency and amplitude"),
    "sawtooth_tv": (lambda: Sawtooth(FS, 440.0), "polyBLEP sawtooth, per-sample frequency"),
    "wavetable": (lambda: Wavetable(FS), "mipmapped learnable wavetable"),
    "harmonic_synth_16": (lambda: HarmonicSynth(FS, n_harmonics=16), "harmonic synth, 16 harmonics, static"),
    "white_noise": (lambda: WhiteNoise(FS), "counter-based white noise"),
    "filtered_noise_65": (lambda: FilteredNoise(FS), "filtered noise, 65 bands, static"),
    "adsr": (lambda: ADSR(FS), "ADSR envelope (gate held)"),
    "lstm32": (lambda: RecurrentModel(FS, hidden=32), "LSTM-32 (NablAFx size, 4513 parameters)"),
    "tcn_45_s_16": (lambda: TCN(FS), "TCN-45-S-16 (7393 parameters)"),
    "s4_l_16": (lambda: S4DModel(FS), "S4D, S4-L-16 size (18865 parameters), convolution mode"),
}


def _controls(processor, batch: int, steps: int) -> Optional[dict]:
    """Per-sample controls: each parameter's raw value plus a slow LFO (different phase per parameter)."""
    t = torch.arange(steps) / FS
    return {
        name: (processor.raw[name].detach() + 0.3 * torch.sin(2 * math.pi * 0.5 * t + i)).reshape(1, 1, -1).expand(batch, 1, -1)
        for i, name in enumerate(processor.specs)
    }


def measure(processor, x: torch.Tensor, controls: Optional[dict], repeats: int) -> dict:
    """Median forward and forward+backward times of ``processor`` on ``x``."""
    leaf = x.detach().clone().requires_grad_()
    leaves = {k: v.detach().clone().requires_grad_() for k, v in (controls or {}).items()}

    def forward():
        with torch.no_grad():
            processor(x, controls)

    def forward_backward():
        processor.zero_grad(set_to_none=True)
        processor(leaf, leaves or None).audio.square().mean().backward()

    return {"forward_s": median_time(forward, repeats), "forward_backward_s": median_time(forward_backward, repeats)}


def _peer_modules() -> tuple:
    """``({name: callable}, {name: version or why it is missing})`` for the installed peers."""
    peers, versions = {}, {}
    try:
        import dasp_pytorch.functional as dasp

        peers["dasp_pytorch"] = dasp
        versions["dasp_pytorch"] = importlib.metadata.version("dasp-pytorch")
    except Exception as error:  # any import failure: the peer is reported missing
        versions["dasp_pytorch"] = f"not installed ({type(error).__name__})"
    try:
        # NablAFx's package imports its whole training stack; its filters live in one module.
        spec = importlib.util.find_spec("nablafx")
        path = Path(spec.origin).parent / "processors" / "dsp.py"
        module_spec = importlib.util.spec_from_file_location("nablafx_dsp", path)
        nablafx = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(nablafx)
        peers["nablafx"] = nablafx
        versions["nablafx"] = importlib.metadata.version("nablafx")
    except Exception as error:
        versions["nablafx"] = f"not installed ({type(error).__name__})"
    try:
        import torchcomp

        peers["torchcomp"] = torchcomp
        versions["torchcomp"] = importlib.metadata.version("torchcomp")
    except Exception as error:
        versions["torchcomp"] = f"not installed ({type(error).__name__})"
    return peers, versions


def _torchcomp_compressor(torchcomp) -> Callable:
    """Threshold -20 dB, ratio 4, attack 10 ms, release 100 ms, 10 ms RMS: our compressor's defaults."""
    def run(x):
        flat = x.reshape(-1, x.shape[-1])
        threshold, ratio = torch.tensor(-20.0, requires_grad=True), torch.tensor(4.0, requires_grad=True)
        attack = torchcomp.ms2coef(torch.tensor(10.0, requires_grad=True), FS)
        release = torchcomp.ms2coef(torch.tensor(100.0, requires_grad=True), FS)
        mean_square = torchcomp.avg(flat.square(), torchcomp.ms2coef(torch.tensor(10.0), FS))
        # The expander is off: threshold far below the signal, ratio just under 1 (it must be in (0, 1)).
        gain = torchcomp.compexp_gain(mean_square, threshold, ratio, torch.tensor(-120.0), torch.tensor(0.999), attack, release)
        return (flat * gain).reshape(x.shape)

    return run


def _dasp_compressor(dasp, batch: int) -> Callable:
    values = [torch.full((batch,), v) for v in (-20.0, 4.0, 10.0, 100.0, 6.0, 0.0)]

    def run(x):
        return dasp.compressor(x, FS, *[v.clone().requires_grad_() for v in values])

    return run


def _dasp_peq(dasp, batch: int) -> Callable:
    values = [torch.full((batch,), v) for _, hz, q, db in PEQ_BANDS for v in (db, hz, q)]

    def run(x):
        return dasp.parametric_eq(x, FS, *[v.clone().requires_grad_() for v in values])

    return run


def _nablafx_peak(nablafx) -> Callable:
    sos = biquad_design("peak", 1000.0, 2.0, 6.0, sample_rate=FS).float()

    def run(x):
        leaf = sos.clone().requires_grad_()
        batch = x.shape[0]
        return nablafx.sosfilt_via_fsm(leaf.reshape(1, 1, 6).expand(batch, 1, 6), x.reshape(batch, -1)).reshape(x.shape)

    return run


def _exact(sos_rows: list, x: torch.Tensor) -> np.ndarray:
    import scipy.signal

    sos = np.stack([biquad_design(kind, hz, q, db, sample_rate=FS).numpy() for kind, hz, q, db in sos_rows])
    return scipy.signal.sosfilt(sos, x.double().numpy())


def _relative_error(y: torch.Tensor, reference: np.ndarray) -> float:
    return float(np.abs(y.detach().double().numpy() - reference).max() / np.abs(reference).max())


def run_peers(peers: dict, x: torch.Tensor, repeats: int) -> dict:
    results = {}
    if "dasp_pytorch" in peers:
        run = _dasp_peq(peers["dasp_pytorch"], x.shape[0])
        results["dasp_pytorch_peq6"] = {"ours": "peq6", **_time_function(run, x, repeats)}
        results["dasp_pytorch_peq6"]["error_vs_exact"] = _relative_error(run(x), _exact(PEQ_BANDS, x))
    if "nablafx" in peers:
        run = _nablafx_peak(peers["nablafx"])
        results["nablafx_biquad_peak"] = {"ours": "biquad_peak", **_time_function(run, x, repeats)}
        results["nablafx_biquad_peak"]["error_vs_exact"] = _relative_error(run(x), _exact([("peak", 1000.0, 2.0, 6.0)], x))
    if "torchcomp" in peers:
        results["torchcomp_compressor"] = {"ours": "compressor_rms", **_time_function(_torchcomp_compressor(peers["torchcomp"]), x, repeats)}
    if "dasp_pytorch" in peers:
        run = _dasp_compressor(peers["dasp_pytorch"], x.shape[0])
        results["dasp_pytorch_compressor"] = {"ours": "compressor_rms", **_time_function(run, x, repeats)}
    return results


def _time_function(run: Callable, x: torch.Tensor, repeats: int) -> dict:
    leaf = x.detach().clone().requires_grad_()

    def forward():
        with torch.no_grad():
            run(x)

    def forward_backward():
        run(leaf).square().mean().backward()

    return {"forward_s": median_time(forward, repeats), "forward_backward_s": median_time(forward_backward, repeats)}


def _ours_error(x: torch.Tensor) -> dict:
    return {
        "peq6": _relative_error(_peq()(x).audio, _exact(PEQ_BANDS, x)),
        "biquad_peak": _relative_error(CASES["biquad_peak"][0]()(x).audio, _exact([("peak", 1000.0, 2.0, 6.0)], x)),
    }


def render_markdown(report: dict) -> str:
    seconds = report["sizes"]["seconds"]
    lines = [
        RESULTS_START,
        "## Processors (bench/processors.py)",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']['cpu']}, {report['machine']['nproc']} CPUs; torch {report['versions']['torch']}; "
        f"{report['date']}. Batch {report['sizes']['batch']} x {seconds:g} s mono float32 at {FS} Hz; "
        "time per second of audio (the whole batch), median of the timed calls.",
        "",
        "| case | what | forward (s / s of audio) | forward+backward (s / s of audio) | fwd+bwd real-time factor |",
        "|---|---|---|---|---|",
    ]
    for name, result in report["cases"].items():
        lines.append(
            f"| {name} | {result['description']} | {result['forward_s'] / seconds:.4g} | "
            f"{result['forward_backward_s'] / seconds:.4g} | {seconds / result['forward_backward_s']:.3g}x |"
        )
    lines += ["", "| peer | ours | peer fwd+bwd (s) | ours fwd+bwd (s) | ours faster by | peer error vs exact | ours error vs exact |", "|---|---|---|---|---|---|---|"]
    for name, peer in report["peers"].items():
        ours = report["cases"][peer["ours"]]
        errors = [peer.get("error_vs_exact"), report["ours_error_vs_exact"].get(peer["ours"])]
        peer_error, ours_error = ("—" if e is None else f"{e:.2g}" for e in errors)
        lines.append(
            f"| {name} | {peer['ours']} | {peer['forward_backward_s']:.4g} | {ours['forward_backward_s']:.4g} | "
            f"{peer['forward_backward_s'] / ours['forward_backward_s']:.3g}x | {peer_error} | {ours_error} |"
        )
    missing = {k: v for k, v in report["versions"].items() if str(v).startswith("not installed")}
    if missing:
        lines += ["", "Peers not measured: " + ", ".join(f"{k} ({v})" for k, v in missing.items())]
    lines.append(RESULTS_END)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="signals per call (default 8)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds of audio per signal (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (default 5)")
    parser.add_argument("--cases", nargs="*", default=list(CASES), help="cases to run (default all)")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md",
        help="markdown file whose processors section is replaced (default bench/RESULTS.md)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the JSON only")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(CASES)}")

    torch.manual_seed(0)
    steps = int(args.seconds * FS)
    x = torch.randn(args.batch, 1, steps)
    results = {}
    for name in args.cases:
        factory, description = CASES[name]
        print(f"[processors] {name} ...", file=sys.stderr, flush=True)
        processor = factory()
        controls = _controls(processor, args.batch, steps) if name.endswith("_tv") else None
        results[name] = {"description": description, **measure(processor, x, controls, args.repeats)}
    peers, versions = _peer_modules()
    report = {
        "benchmark": "bench/processors.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": machine_info(),
        "threads": torch.get_num_threads(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, **versions},
        "sizes": {"batch": args.batch, "seconds": args.seconds, "sample_rate": FS, "repeats": args.repeats},
        "cases": results,
        "peers": run_peers(peers, x, args.repeats) if {"peq6", "biquad_peak", "compressor_rms"} <= set(results) else {},
        "ours_error_vs_exact": _ours_error(x) if {"peq6", "biquad_peak"} <= set(results) else {},
    }
    print(json.dumps(json_safe(report), indent=2, allow_nan=False))
    if not args.no_write:
        write_section(args.results, render_markdown(report), RESULTS_START, RESULTS_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
