"""Real-time factor of the C++ engine against the same models run in Python (torch), one core.

    python bench/plugin.py                  # every preset and black-box size, mono and stereo
    python bench/plugin.py --seconds 20     # longer engine runs

Each model is exported (``ddsp_kit.export.export_engine``) and run by ``plugins/build/ddsp_kit_run
--bench`` on noise at 48 kHz in host blocks of 128 samples, pinned to one core (``taskset -c 0``, where
there is one); the same model streams the same block size through ``ddsp_kit.inference.process_audio``
with ``torch.set_num_threads(1)``. Real-time factor = seconds of audio / wall seconds (higher is faster).
Targets (issue 7): gray-box presets >= 500x, LSTM-32 >= 50x. Prints JSON and writes the table into
``bench/RESULTS.md``.
"""

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from common import write_table_section

from ddsp_kit.export import export_engine
from ddsp_kit.export.build import build
from ddsp_kit.inference import process_audio
from ddsp_kit.models import presets
from ddsp_kit.models.recurrent import RecurrentModel
from ddsp_kit.models.tcn import TCN

HERE = Path(__file__).resolve().parent
RATE, BLOCK = 48000, 128
START, END = "<!-- plugin:start -->", "<!-- plugin:end -->"
MODELS = {
    "compressor (gray-box)": lambda: presets.compressor(RATE),
    "overdrive (gray-box)": lambda: presets.overdrive(RATE),
    "pedals (gray-box)": lambda: presets.pedals(RATE),
    "amp, 512-tap cabinet (gray-box)": lambda: presets.amp(RATE),
    "fuzz, time-varying bias (gray-box)": lambda: presets.fuzz(RATE),
    "compressor, time-varying (gray-box)": lambda: presets.compressor(RATE, control="time-varying"),
    "reverb, FDN (gray-box)": lambda: presets.reverb(RATE, kind="fdn"),
    "reverb, 1 s noise IR (gray-box)": lambda: presets.reverb(RATE, kind="noise"),
    "hybrid overdrive + GRU-8": lambda: presets.hybrid(RATE, "overdrive"),
    "LSTM-16": lambda: RecurrentModel(RATE, hidden=16, residual=True),
    "LSTM-32": lambda: RecurrentModel(RATE, hidden=32, residual=True),
    "LSTM-64": lambda: RecurrentModel(RATE, hidden=64, residual=True),
    "GRU-32": lambda: RecurrentModel(RATE, hidden=32, cell="gru", residual=True),
    "TCN-16 (5 blocks, kernel 7, 43 ms field)": lambda: TCN(RATE),
    "TCN-32 (5 blocks, kernel 7)": lambda: TCN(RATE, channels=32),
}
TARGETS = {"gray-box": 500.0, "LSTM-32": 50.0}


def _target(name: str):
    return next((value for key, value in TARGETS.items() if key in name), None)


def engine_factor(run: Path, path: Path, channels: int, seconds: float) -> float:
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    command = pin + [str(run), str(path), "--bench", str(seconds), "--block", str(BLOCK), "--channels", str(channels)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["realtime_factor"]


def torch_factor(model, channels: int, seconds: float) -> float:
    audio = 0.1 * torch.randn(channels, int(seconds * RATE))
    # A one-channel net runs once per channel (as the engine runs it); gray-box blocks take any channel count.
    mono_net = any(isinstance(m, (RecurrentModel, TCN)) and m.in_channels == 1 for m in model.modules())
    streams = [audio[c : c + 1] for c in range(channels)] if mono_net and channels > 1 else [audio]
    start = time.perf_counter()
    with torch.no_grad():
        for stream in streams:
            process_audio(model, stream, block_size=BLOCK)
    return seconds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of audio per engine run")
    parser.add_argument("--torch-seconds", type=float, default=1.0, help="seconds of audio per torch run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = build(["ddsp_kit_run"]) / "ddsp_kit_run"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, factory in MODELS.items():
            model = factory().eval()
            path = export_engine(model, Path(folder) / "model.engine.safetensors", knobs=[])
            for channels in (1, 2):
                engine = engine_factor(run, path, channels, args.seconds)
                python = torch_factor(model, channels, args.torch_seconds)
                rows.append({"model": name, "channels": channels, "params": sum(p.numel() for p in model.parameters()),
                             "engine_rtf": round(engine, 1), "torch_rtf": round(python, 2), "speedup": round(engine / python, 1),
                             "target": _target(name)})
                print(json.dumps(rows[-1]), flush=True)
    table = []
    for row in rows:
        target = row["target"]
        verdict = "" if target is None else f">= {target:g}x ({'met' if row['engine_rtf'] >= target else 'missed'})"
        table.append((row["model"], row["channels"], row["params"], f"{row['engine_rtf']:g}", f"{row['torch_rtf']:g}", f"{row['speedup']:g}", verdict))
    machine = write_table_section(
        HERE / "RESULTS.md", "plugin.py", "Real-time engine",
        f", one core (taskset -c 0), 48 kHz, host blocks of {BLOCK}. Real-time factor = seconds of audio per wall second; "
        "torch = the same model streamed through `process_audio` in blocks of 128 with one thread.",
        ["model", "channels", "params", "engine RTF", "torch RTF", "engine / torch", "target"], table, START, END,
    )
    print(json.dumps({"machine": machine, "rows": rows}))


if __name__ == "__main__":
    main()
