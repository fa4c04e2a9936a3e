"""Command line of ddsp_kit.

``ddsp-kit fit | validate | test | predict -c recipes/<name>.yaml`` train and
evaluate models (LightningCLI, see :mod:`ddsp_kit.train.cli`; ``ddsp-kit fit
--help`` lists every option); ``ddsp-kit process MODEL in.wav out.wav`` runs a
model file on audio; ``ddsp-kit export MODEL -o FILE`` writes the engine file
the real-time plugin loads; ``ddsp-kit demo`` fits a resonant filter in seconds.
"""

import argparse
import json
import logging
import sys
from dataclasses import asdict
from typing import Optional, Sequence

from .demo import fit_resonator
from .inference import process_file
from .kernels import available_backends


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddsp-kit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("fit", "train a model from a recipe"), ("validate", "validate a checkpoint"), ("test", "test a checkpoint"), ("predict", "write a checkpoint's test-split output as WAV")):
        commands.add_parser(name, help=f"{text}: ddsp-kit {name} -c recipes/<name>.yaml (see ddsp-kit {name} --help)", add_help=False)
    demo = commands.add_parser("demo", help="fit a resonant filter to filtered noise through the IIR kernels")
    demo.add_argument("--steps", type=int, default=400, help="optimiser steps (default 400)")
    demo.add_argument("--target-hz", type=float, default=2500.0, help="resonance to recover, Hz")
    demo.add_argument("--sample-rate", type=int, default=48000, help="Hz")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--backend", choices=available_backends(), default=None, help="force a kernel backend")
    process = commands.add_parser("process", help="run a model file on an audio file, streaming in blocks")
    process.add_argument("model", help="model file (.safetensors) written by ddsp_kit")
    process.add_argument("input", help="input audio file at the model's sample rate")
    process.add_argument("output", help="output WAV (float32)")
    process.add_argument("--block-size", type=int, default=512, help="samples per block (default 512)")
    process.add_argument("--knobs", type=float, nargs="*", default=None, help="knob values in [0, 1]")
    process.add_argument("--compensate-latency", action="store_true", help="shift the output earlier by the model's latency")
    export = commands.add_parser("export", help="write the engine file of a model file, for the real-time engine and plugins")
    export.add_argument("model", help="model file (.safetensors) written by ddsp_kit")
    export.add_argument("-o", "--output", required=True, help="engine file to write (*.engine.safetensors)")
    export.add_argument(
        "--knob", action="append", default=None, metavar="NAME=PATH:PARAMETER",
        help="a knob the plugin exposes, driving one block parameter (repeatable; default: every parameter)",
    )
    export.add_argument("--channels", type=int, default=None, help="channels of the golden pair (default 1, or the net's)")
    export.add_argument("--name", default=None, help="display name (default: the model's class)")
    export.add_argument(
        "--plugin", metavar="DIR", default=None,
        help="also build LV2, VST3 and CLAP plugins with the model embedded into DIR (needs cmake, g++, Debian's dpf-source)",
    )
    return parser


def _export(args: argparse.Namespace) -> int:
    from .export import ModelFileError, export_engine, load_model, read_engine_header
    from .export.build import BuildError, build_plugin

    try:
        path = export_engine(load_model(args.model), args.output, knobs=args.knob, channels=args.channels, name=args.name)
    except ModelFileError as error:
        _parser().exit(1, f"ddsp-kit export: {error}\n")
    header = read_engine_header(path)
    knobs = ", ".join(f"{k['name']} [{k['minimum']:g}, {k['maximum']:g}] {k['unit']}".rstrip() for k in header["knobs"])
    print(f"wrote {path}: {header['name']}, {header['channels']} channel(s) at {header['sample_rate']:g} Hz, "
          f"latency {header['latency']} samples, knobs: {knobs or 'none'}")
    if args.plugin is not None:
        try:
            bundles = build_plugin(path, header["name"], args.plugin)
        except BuildError as error:
            _parser().exit(1, f"ddsp-kit export: plugin build failed: {error}\n")
        print("built " + ", ".join(str(bundle) for bundle in bundles.values()))
    return 0


def _train(argv: Sequence[str]) -> int:
    """Run a LightningCLI subcommand; bad values in a recipe end with a message, not a traceback."""
    from .train.cli import EffectCLI  # imports lightning's CLI only when training

    logging.basicConfig(format="%(message)s")
    logging.getLogger("ddsp_kit").setLevel(logging.INFO)  # the data-quality report, the model file written
    try:
        cli = EffectCLI(argv)
    except ValueError as error:
        print(f"ddsp-kit {argv[0]}: error: {error}", file=sys.stderr)
        return 1
    if cli.summary:
        print(cli.summary)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("fit", "validate", "test", "predict"):
        return _train(argv)
    args = _parser().parse_args(argv)
    if args.command == "demo":
        if not 0 < args.target_hz < args.sample_rate / 2:
            _parser().error(f"--target-hz must lie in (0, {args.sample_rate / 2}) Hz")
        if args.steps < 1:
            _parser().error("--steps must be at least 1")
        result = fit_resonator(
            sample_rate=args.sample_rate, target_hz=args.target_hz, steps=args.steps, seed=args.seed, backend=args.backend
        )
        print(json.dumps(asdict(result), indent=2))
        recovered = abs(result.fitted_hz - result.target_hz) < 0.01 * result.target_hz
        print(f"resonance recovered within 1%: {recovered}; final normalised error {result.final_loss:.2e}")
        return 0 if recovered else 1
    if args.command == "export":
        return _export(args)
    if args.command == "process":
        if args.block_size < 1:
            _parser().error("--block-size must be at least 1")
        try:
            written = process_file(args.model, args.input, args.output, args.block_size, args.knobs, args.compensate_latency)
        except ValueError as error:  # bad model file, audio or knobs: a message, not a traceback
            _parser().exit(1, f"ddsp-kit process: {error}\n")
        print(f"wrote {written}")
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
