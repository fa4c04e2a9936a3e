"""How crop length and batch size trade against steps for a black-box LSTM on a fixed wall-time budget.

    python bench/blackbox_steps.py                       # ts9, LSTM-32, 60 s per setting
    python bench/blackbox_steps.py --device lsp_comp --seconds 120

On this CPU torch's LSTM step costs in proportion to batch x (crop + warm-up), so the number of optimiser
steps a budget buys, not the samples per step, decides how far the net gets. Each setting trains the same
residual LSTM-32 (``RecurrentModel``) with Adam (lr 5e-3) on random crops of the first 60 % of the device's
clip, ESR on the span after the warm-up, for ``--seconds`` of wall time, then scores the last 20 % of the
clip (the model run over the whole clip, as ``bench/fidelity.py`` does). This is what chose the black-box
recipes' 8 x (512 + 256). Prints JSON and writes the table into ``bench/RESULTS.md``.
"""

import argparse
import json
import time
from pathlib import Path

import soundfile
import torch

from common import write_table_section

from ddsp_kit.data import cache_dir
from ddsp_kit.losses import ESRLoss
from ddsp_kit.metrics import esr
from ddsp_kit.models.recurrent import RecurrentModel

HERE = Path(__file__).resolve().parent
START, END = "<!-- blackbox_steps:start -->", "<!-- blackbox_steps:end -->"
SETTINGS = ((32, 2048, 1024), (16, 1024, 512), (4, 512, 256), (8, 512, 256))  # batch, crop, warm-up


def train(x: torch.Tensor, y: torch.Tensor, batch: int, crop: int, warmup: int, seconds: float) -> dict:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = RecurrentModel(48000, hidden=32, residual=True)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    loss_fn = ESRLoss()  # pooled over the batch, as the recipes train
    train_end, test_start = int(0.6 * x.shape[-1]), int(0.8 * x.shape[-1])
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        starts = torch.randint(0, train_end - crop - warmup, (batch,), generator=generator).tolist()
        xb = torch.stack([x[:, s : s + crop + warmup] for s in starts])
        yb = torch.stack([y[:, s : s + crop + warmup] for s in starts])
        loss = loss_fn(model(xb).audio[..., warmup:], yb[..., warmup:])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        steps += 1
    with torch.no_grad():
        prediction = model(x[None]).audio[0]
    test = esr(prediction[None, :, test_start:], y[None, :, test_start:])
    return {"batch": batch, "crop": crop, "warmup": warmup, "steps": steps, "test_esr": test}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="ts9", help="a captured development device (datasets/capture.py)")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall-time budget per setting")
    args = parser.parse_args()
    folder = cache_dir() / "devices" / args.device
    x, _ = soundfile.read(folder / f"{args.device}.input.wav", dtype="float32", always_2d=True)
    y, _ = soundfile.read(folder / f"{args.device}.target.wav", dtype="float32", always_2d=True)
    x, y = torch.from_numpy(x.T.copy()), torch.from_numpy(y.T.copy())
    rows = []
    for batch, crop, warmup in SETTINGS:
        rows.append(train(x, y, batch, crop, warmup, args.seconds))
        print(json.dumps(rows[-1]), flush=True)
    write_table_section(
        HERE / "RESULTS.md", "blackbox_steps.py", "Black-box steps against crop size",
        f": residual LSTM-32 on `{args.device}`, {args.seconds:g} s of training per setting, test ESR on the last 20 % of the clip.",
        ["batch", "crop", "warm-up", "steps", "test ESR"],
        [(r["batch"], r["crop"], r["warmup"], r["steps"], f"{r['test_esr']:.4g}") for r in rows], START, END,
    )
    print(json.dumps({"machine": machine, "rows": rows}))


if __name__ == "__main__":
    main()
