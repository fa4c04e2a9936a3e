"""Real-device benchmark: fit each development device with a fixed wall-time budget and score the test split.

    python bench/fidelity.py                                   # every device and model, 600 s each
    python bench/fidelity.py --devices ts9 lsp_comp --models graybox blackbox --budget-s 600
    python bench/fidelity.py --table                           # rebuild the RESULTS.md table only

Devices are captured by ``datasets/capture.py`` when missing. Models: ``graybox`` and ``blackbox`` are
our recipes (``recipes/<family>_<kind>.yaml`` through ``ddsp-kit fit``); ``nam_wavenet`` and
``nam_lstm`` are Neural Amp Modeler's own trainers (``bench/nam_fit.py``, run in the virtualenv given
by ``--nam-python``) on the same split. Every model trains on the first 60 % of the clip, selects its
best checkpoint on the next 20 %, and is scored here, by one function, on the last 20 %: its output for
the whole clip (so the test span starts with settled state) is cut to the test span, after the latency the
model reports. Scores: ESR, multi-resolution STFT distance, loudness difference (LU), parameter count,
training wall time; for the reverb, the RT60 (T20 of the impulse response, ISO 3382-1) of each model and of
the device itself, from its response to a unit impulse after a second of silence. Each run's figures go to ``bench/fidelity.json`` (merged across invocations, so
devices can be run in separate sessions) and the table into ``bench/RESULTS.md``.
"""

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from common import machine_info, write_section

from ddsp_kit.data import cache_dir
from ddsp_kit.export import load_model
from ddsp_kit.functional import decay_time
from ddsp_kit.inference import process_audio
from ddsp_kit.losses import mrstft
from ddsp_kit.metrics import esr, loudness_difference_lu

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS_JSON = HERE / "fidelity.json"
RECIPES = {"ts9": "overdrive", "lsp_comp": "compressor", "amp_vts_cab": "amp", "lsp_peq": "eq", "calf_reverb": "reverb", "pb_chain": "pedals"}
TARGET_ESR = {"ts9": 0.01, "amp_vts_cab": 0.005, "lsp_comp": 0.005, "lsp_peq": 0.0005, "pb_chain": 0.005, "calf_reverb": 0.1}
MODELS = ("graybox", "blackbox", "nam_wavenet", "nam_lstm")
DECAY_DEVICES = ("calf_reverb",)  # devices whose table rows carry an RT60
SETTLE_S, IMPULSE_S = 1.0, 4.0  # silence before the impulse; response kept after it (falls past -25 dB)
SPLIT = (0.6, 0.8)  # train ends, validation ends (fractions of the clip)
RESULTS_START, RESULTS_END = "<!-- fidelity:start -->", "<!-- fidelity:end -->"


def _capture_module():
    spec = importlib.util.spec_from_file_location("capture", REPO / "datasets" / "capture.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["capture"] = module
    spec.loader.exec_module(module)
    return module


def device_folder(device: str, root: Path) -> Path:
    folder = root / device
    if not (folder / f"{device}.target.wav").is_file():
        _capture_module().capture_device(device, root)
    return folder


def score(prediction: np.ndarray, target: np.ndarray, rate: int) -> dict:
    """ESR, MR-STFT and loudness difference of ``(channels, samples)`` arrays on the test span."""
    start = int(SPLIT[1] * target.shape[-1])
    p = torch.from_numpy(np.ascontiguousarray(prediction[..., start:], dtype=np.float32))[None]
    t = torch.from_numpy(np.ascontiguousarray(target[..., start:], dtype=np.float32))[None]
    return {
        "esr": float(esr(p, t)),
        "mrstft": float(mrstft(p, t)),
        "loudness_lu": float(loudness_difference_lu(p, t, rate)),
    }


def impulse(channels: int, rate: int) -> np.ndarray:
    """A unit impulse after ``SETTLE_S`` of silence (a plugin's smoothed gains start from zero), ``IMPULSE_S`` after it."""
    pulse = np.zeros((channels, int((SETTLE_S + IMPULSE_S) * rate)), dtype=np.float32)
    pulse[:, int(SETTLE_S * rate)] = 1.0
    return pulse


def rt60(response: np.ndarray, rate: int) -> float:
    """T20 of the response to :func:`impulse` ``(channels, samples)``, s, averaged over its channels."""
    tail = np.ascontiguousarray(response[:, int(SETTLE_S * rate):], dtype=np.float64)
    return float(decay_time(torch.from_numpy(tail), rate).mean())


def device_rt60(device: str, channels: int, rate: int) -> float:
    response, _ = _capture_module().DEVICES[device].process(impulse(channels, rate))
    return rt60(response, rate)


def _read(path: Path):
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return audio.T, rate


def run_ours(device: str, kind: str, folder: Path, budget_s: float, out: Path) -> dict:
    recipe = REPO / "recipes" / f"{RECIPES[device]}_{kind}.yaml"
    model_path = out / "model.safetensors"
    minutes, seconds = divmod(int(budget_s), 60)
    command = [
        sys.executable, "-m", "ddsp_kit.cli", "fit", "-c", str(recipe),
        "--data.init_args.root", str(folder), "--trainer.max_time", f"00:00:{minutes:02d}:{seconds:02d}",
        "--trainer.default_root_dir", str(out), "--trainer.enable_progress_bar", "false", "--export", str(model_path),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{device} {kind} failed:\n{done.stderr[-3000:]}")
    model = load_model(model_path)
    x, rate = _read(folder / f"{device}.input.wav")
    y, _ = _read(folder / f"{device}.target.wav")
    with torch.no_grad():
        prediction = process_audio(model, torch.from_numpy(x), block_size=1 << 16, compensate_latency=True).numpy()
    params = sum(p.numel() for p in model.parameters())
    entry = {**score(prediction, y, rate), "params": params, "train_s": round(elapsed, 1), "recipe": recipe.name}
    if device in DECAY_DEVICES:
        with torch.no_grad():
            response = process_audio(model, torch.from_numpy(impulse(x.shape[0], rate)), block_size=1 << 16, compensate_latency=True)
        entry["rt60_s"] = rt60(response.numpy(), rate)
    return entry


def run_nam(device: str, arch: str, folder: Path, budget_s: float, out: Path, python: str) -> dict:
    x, rate = _read(folder / f"{device}.input.wav")
    y, _ = _read(folder / f"{device}.target.wav")
    n = x.shape[-1]
    command = [
        python, str(HERE / "nam_fit.py"), "--input", str(folder / f"{device}.input.wav"),
        "--target", str(folder / f"{device}.target.wav"), "--arch", arch, "--train-stop", str(int(SPLIT[0] * n)),
        "--val-start", str(int(SPLIT[0] * n)), "--val-stop", str(int(SPLIT[1] * n)), "--budget-s", str(budget_s), "--out", str(out),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{device} nam {arch} failed:\n{done.stderr[-3000:]}")
    info = json.loads((out / "result.json").read_text())
    prediction, _ = _read(out / "prediction.wav")
    channel = info["target_channel"]  # NAM is mono: scored on the channel it was trained on
    target = y[channel:channel + 1]
    return {**score(prediction, target, rate), "params": info["params"], "train_s": round(elapsed, 1), "note": "; ".join(info["notes"])}


def table(results: dict) -> str:
    lines = [
        "| device | model | test ESR | target ESR | MR-STFT | loudness diff (LU) | params | train time (s) | budget (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for device in RECIPES:
        for model in MODELS:
            entry = results.get(f"{device}/{model}")
            if entry is None:
                continue
            if "error" in entry:
                lines.append(f"| {device} | {model} | failed: {entry['error'][:80]} | | | | | | {entry['budget_s']} |")
                continue
            target = TARGET_ESR[device]
            verdict = "met" if entry["esr"] <= target else f"missed x{entry['esr'] / target:.1f}"
            lines.append(
                f"| {device} | {model} | {entry['esr']:.4g} | <= {target} ({verdict}) | {entry['mrstft']:.3f} | "
                f"{entry['loudness_lu']:+.2f} | {entry['params']} | {entry['train_s']:.0f} | {entry['budget_s']} |"
            )
    decays = []
    for device in DECAY_DEVICES:
        measured = results.get(f"{device}/device", {}).get("rt60_s")
        models = [f"{model} {results[f'{device}/{model}']['rt60_s']:.2f} s" for model in MODELS if "rt60_s" in results.get(f"{device}/{model}", {})]
        if measured is not None or models:
            device_text = f"the device {measured:.2f} s" if measured is not None else "the device not measured"
            decays.append(f"- {device}: {device_text}; " + (", ".join(models) or "no model measured"))
    if decays:
        lines += ["", "RT60 read off each model and the device (T20 of the response to a unit impulse, ISO 3382-1):", ""] + decays
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--budget-s", type=float, default=600.0, help="wall-time budget of each model's training")
    parser.add_argument("--root", type=Path, default=None, help="captures (default $DDSP_KIT_CACHE/devices)")
    parser.add_argument("--nam-python", default="/work/venv-nam/bin/python", help="python of a virtualenv with neural-amp-modeler")
    parser.add_argument("--table", action="store_true", help="only rebuild the table from bench/fidelity.json")
    args = parser.parse_args()
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.is_file() else {}
    if not args.table:
        root = (args.root or cache_dir() / "devices").expanduser()
        for device in args.devices:
            folder = device_folder(device, root)
            if device in DECAY_DEVICES:
                info = soundfile.info(folder / f"{device}.input.wav")
                results[f"{device}/device"] = {"rt60_s": device_rt60(device, info.channels, info.samplerate), "date": time.strftime("%Y-%m-%d")}
            for model in args.models:
                with tempfile.TemporaryDirectory() as scratch:
                    try:
                        if model.startswith("nam_"):
                            entry = run_nam(device, model[4:], folder, args.budget_s, Path(scratch), args.nam_python)
                        else:
                            entry = run_ours(device, model, folder, args.budget_s, Path(scratch))
                    except Exception as error:  # one model's failure is a table row, not the end of the run
                        entry = {"error": str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)}
                entry.update(budget_s=args.budget_s, date=time.strftime("%Y-%m-%d"))
                results[f"{device}/{model}"] = entry
                print(json.dumps({f"{device}/{model}": entry}), flush=True)
                RESULTS_JSON.write_text(json.dumps(results, indent=1, sort_keys=True))
    command = "python bench/fidelity.py " + " ".join(sys.argv[1:])
    machine = machine_info()
    body = table(results)
    section = "\n".join([
        RESULTS_START, "## Real-device fidelity (bench/fidelity.py)", "",
        f"Last command: `{command.strip()}`  ",
        f"Machine: {machine['cpu']}, {machine['nproc']} CPUs. Test split = last 20 % of each 60 s clip; "
        "each row's budget is its training wall time limit (runs may come from different invocations: see "
        "bench/fidelity.json for dates).", "", body, RESULTS_END,
    ])
    write_section(HERE / "RESULTS.md", section, RESULTS_START, RESULTS_END)
    print(body)


if __name__ == "__main__":
    main()
