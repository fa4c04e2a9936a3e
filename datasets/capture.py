r"""Capture paired datasets from real effects: the development devices and knob grids.

    python datasets/capture.py inputs                       # the input clips: gtr, bass_drums, mix
    python datasets/capture.py device ts9                   # one device of DEVICES (or: all)
    python datasets/capture.py grid ts9 --knob D=fslider2_:0:1 --knob T=fslider1_:200:1000 --steps 3
    python datasets/capture.py report ts9                   # the data-quality report of a capture

Renders go under ``--root`` (default ``$DDSP_KIT_CACHE/devices``, i.e.
``~/.cache/ddsp_kit/devices``) and are never committed. A device capture is a
plain-layout folder ``<root>/<id>/<id>.input.wav`` + ``<id>.target.wav``
(float32, 48 kHz) with ``card.json``, the dataset card: what the input is, the
effect with every setting, the host, the reported latency and the split. A grid
capture is a ToneTwist AFx folder ``<root>/<id>_grid/`` with one
``<PARAMS>/<PARAMS>.<id>.target.wav`` per setting (knob letter + 000-100).

Inputs follow ``shared/devices.md``: Debian's openttd-openmsx MIDI songs split
into guitar and bass stems (pretty_midi; drums dropped, programs forced to GM 27
and 33) rendered dry by fluidsynth with FluidR3_GM, the full mix, and four
sonic-pi-samples drum loops; each piece trimmed, peak-normalised and faded,
assembled into 60 s clips, then levelled as in ToneTwist AFx (peak -1 dBFS,
a random gain in [0.1, 1] held 5 s, smoothed 10 ms; seeded). Hosts: LV2 plugins
run in ``lv2host`` (``datasets/lv2host``, built on first use against
liblilv), LADSPA through sox, JUCE effects through pedalboard.

Needs (apt) ``sox libsox-fmt-all liblilv-dev lv2-dev guitarix-lv2 lsp-plugins-lv2
calf-plugins caps fluidsynth fluid-soundfont-gm sonic-pi-samples openttd-openmsx``
and (pip) ``ddsp_kit[datasets]``; each step says which one it misses.
"""

import argparse
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.signal
import soundfile

from ddsp_kit.data import cache_dir, format_report, plain_pairs, quality_report
from ddsp_kit.data.dataset import PairedAudioDataset

RATE = 48000
CLIP_SECONDS = 60
HERE = Path(__file__).resolve().parent
MIDI_DIR = Path("/usr/share/games/openttd/baseset/openmsx")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
LOOPS_DIR = Path("/usr/share/sonic-pi/samples")
DRUM_LOOPS = ("loop_amen_full", "loop_compus", "loop_garzul", "loop_tabla")
LADSPA_PATH = "/usr/lib/ladspa"
GUITAR_PROGRAM, BASS_PROGRAM, SPLIT_PITCH = 27, 33, 48


class CaptureError(RuntimeError):
    """A capture step cannot run here (a missing package, a failing host): the message says what to do."""


def _need(path: Path, package: str) -> Path:
    if not path.exists():
        raise CaptureError(f"{path} is missing: install the Debian package {package}")
    return path


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        raise CaptureError(f"{name} is not on PATH: install the Debian package {package}")
    return found


# --- inputs ----------------------------------------------------------------------------------------


def _fade(x: np.ndarray, rate: int = RATE, seconds: float = 0.005) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of ``seconds`` at both ends (along the last axis)."""
    n = min(int(seconds * rate), x.shape[-1] // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    x = x.copy()
    x[..., :n] *= ramp
    x[..., x.shape[-1] - n:] *= ramp[::-1]
    return x


def prepare_piece(x: np.ndarray, threshold: float = 1e-4) -> np.ndarray:
    """Trim leading/trailing samples at or below ``threshold``, peak-normalise to 1, fade 5 ms (mono)."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    if loud.size == 0:
        return np.zeros(0, dtype=np.float64)
    x = x[loud[0]:loud[-1] + 1].astype(np.float64)
    return _fade(x / np.abs(x).max())


def segment(piece: np.ndarray, seconds: float, rate: int = RATE) -> np.ndarray:
    """The first ``seconds`` of a prepared piece, zero-padded if shorter, with 5 ms fades at the cut."""
    n = int(round(seconds * rate))
    out = np.zeros(n)
    out[: min(n, piece.size)] = piece[:n]
    return _fade(out)


def tonetwist_level(x: np.ndarray, seed: int, rate: int = RATE) -> np.ndarray:
    """Peak -1 dBFS, then a random gain in [0.1, 1] held for 5 s and smoothed over 10 ms (seeded)."""
    x = x * (10 ** (-1 / 20) / max(np.abs(x).max(), 1e-12))
    rng = np.random.default_rng(seed)
    hold = 5 * rate
    gains = np.repeat(rng.uniform(0.1, 1.0, size=math.ceil(x.size / hold)), hold)[: x.size]
    width = int(0.01 * rate)
    padded = np.concatenate([np.full(width - 1, gains[0]), gains])
    return (x * np.convolve(padded, np.ones(width) / width, mode="valid")).astype(np.float32)


def _fluidsynth(midi: Path, out: Path) -> np.ndarray:
    """Render a MIDI file dry with FluidR3_GM at 48 kHz; channels averaged to mono."""
    command = [_tool("fluidsynth", "fluidsynth"), "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(RATE),
               "-O", "float", "-T", "wav", "-F", str(out), str(_need(SOUNDFONT, "fluid-soundfont-gm")), str(midi)]
    subprocess.run(command, check=True, capture_output=True)
    audio, rate = soundfile.read(out, dtype="float64", always_2d=True)
    if rate != RATE:
        raise CaptureError(f"fluidsynth wrote {rate} Hz, expected {RATE}")
    return audio.mean(axis=1)


def _stems(song: Path, folder: Path) -> Dict[str, Optional[np.ndarray]]:
    """Guitar and bass stems of a song (tracks by median pitch, notes only, programs forced), and its full mix."""
    import pretty_midi  # the datasets extra

    midi = pretty_midi.PrettyMIDI(str(song))
    stems = {"gtr": pretty_midi.PrettyMIDI(), "bass": pretty_midi.PrettyMIDI()}
    for instrument in midi.instruments:
        if instrument.is_drum or not instrument.notes:
            continue
        high = np.median([note.pitch for note in instrument.notes]) >= SPLIT_PITCH
        track = pretty_midi.Instrument(program=GUITAR_PROGRAM if high else BASS_PROGRAM)
        track.notes = list(instrument.notes)
        stems["gtr" if high else "bass"].instruments.append(track)
    rendered: Dict[str, Optional[np.ndarray]] = {}
    for name, stem in stems.items():
        if stem.instruments:
            stem.write(str(folder / f"{song.stem}.{name}.mid"))
            rendered[name] = _fluidsynth(folder / f"{song.stem}.{name}.mid", folder / f"{song.stem}.{name}.wav")
        else:
            rendered[name] = None
    rendered["mix"] = _fluidsynth(song, folder / f"{song.stem}.mix.wav")
    return rendered


def _drum_loops() -> np.ndarray:
    """The four sonic-pi loops (44.1 kHz -> 48 kHz by resample_poly 160/147), each prepared, concatenated."""
    pieces = []
    for name in DRUM_LOOPS:
        audio, rate = soundfile.read(_need(LOOPS_DIR / f"{name}.flac", "sonic-pi-samples"), dtype="float64", always_2d=True)
        mono = audio.mean(axis=1)
        if rate != RATE:
            step = math.gcd(RATE, rate)
            mono = scipy.signal.resample_poly(mono, RATE // step, rate // step)
        pieces.append(prepare_piece(mono))
    return np.concatenate(pieces)


def render_inputs(root: Path, seed: int = 0) -> Dict[str, Path]:
    """Render the three input clips (``gtr``, ``bass_drums``, ``mix``) into ``root/inputs``; returns their paths.

    Songs are the even positions (0-based) of the sorted MIDI files that hold the stem a clip needs, five
    per clip. Clips already rendered with the same card are kept.
    """
    folder = root / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.wav" for name in ("gtr", "bass_drums", "mix")}
    card = {"songs": "openttd-openmsx, even positions", "soundfont": SOUNDFONT.name, "loops": DRUM_LOOPS, "seed": seed, "version": 1}
    card_path = folder / "inputs.json"
    if card_path.is_file() and json.loads(card_path.read_text()) == card and all(p.is_file() for p in paths.values()):
        return paths
    songs = sorted(_need(MIDI_DIR, "openttd-openmsx").glob("*.mid"))[::2]
    streams: Dict[str, List[np.ndarray]] = {"gtr": [], "bass": [], "mix": []}
    with tempfile.TemporaryDirectory() as scratch:
        for song in songs:
            if all(len(streams[name]) >= 5 for name in streams):
                break
            for name, audio in _stems(song, Path(scratch)).items():
                if audio is not None and len(streams[name]) < 5:
                    piece = prepare_piece(audio)
                    if piece.size:
                        streams[name].append(piece)
    missing = [name for name, pieces in streams.items() if len(pieces) < 5]
    if missing:
        raise CaptureError(f"fewer than five songs hold a {missing} stem")
    drums = _drum_loops()
    drum_segments = [segment(drums[i * 6 * RATE:], 6) for i in range(5)]
    clips = {
        "gtr": np.concatenate([segment(piece, 12) for piece in streams["gtr"]]),
        "bass_drums": np.concatenate([s for pair in zip([segment(p, 6) for p in streams["bass"]], drum_segments) for s in pair]),
        "mix": np.concatenate([segment(piece, 12) for piece in streams["mix"]]),
    }
    for index, (name, clip) in enumerate(clips.items()):
        soundfile.write(paths[name], tonetwist_level(clip, seed + index), RATE, subtype="FLOAT")
    card_path.write_text(json.dumps(card, indent=2))
    return paths


# --- hosts -----------------------------------------------------------------------------------------


def lv2host_binary() -> Path:
    """Build ``datasets/lv2host/lv2host.c`` into the cache (once per source change); returns the binary."""
    source = HERE / "lv2host" / "lv2host.c"
    binary = cache_dir() / "bin" / f"lv2host-{int(source.stat().st_mtime)}"
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    pkg = subprocess.run(["pkg-config", "--cflags", "--libs", "lilv-0"], capture_output=True, text=True)
    if pkg.returncode:
        raise CaptureError("liblilv is missing: install the Debian packages liblilv-dev lv2-dev pkg-config")
    command = [_tool("cc", "gcc"), "-O2", "-std=c11", str(source), *pkg.stdout.split(), "-lm", "-o", str(binary)]
    built = subprocess.run(command, capture_output=True, text=True)
    if built.returncode:
        raise CaptureError(f"building lv2host failed:\n{built.stderr}")
    return binary


def run_lv2(uri: str, audio: np.ndarray, settings: Dict[str, float], block: int = 256) -> Tuple[np.ndarray, int]:
    """Process ``(channels, samples)`` float audio through an LV2 plugin; returns ``(output, reported latency)``."""
    with tempfile.TemporaryDirectory() as scratch:
        source, sink = Path(scratch) / "in.f32", Path(scratch) / "out.f32"
        np.ascontiguousarray(audio.T, dtype="<f4").tofile(source)
        command = [str(lv2host_binary()), uri, str(source), str(sink), "--rate", str(RATE),
                   "--in-channels", str(audio.shape[0]), "--block", str(block)]
        for symbol, value in settings.items():
            command += ["--set", f"{symbol}={value}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise CaptureError(f"lv2host failed for {uri}: {done.stderr.strip()}")
        info = json.loads(done.stdout.strip().splitlines()[-1])
        out = np.fromfile(sink, dtype="<f4").reshape(-1, info["out_channels"]).T
    return out, int(info["latency"])


def run_sox(effects: Sequence[str], audio: np.ndarray) -> Tuple[np.ndarray, int]:
    """Process audio through a sox effects chain (LADSPA plugins found in /usr/lib/ladspa); latency 0."""
    sox = _tool("sox", "sox libsox-fmt-all")
    with tempfile.TemporaryDirectory() as scratch:
        source, sink = Path(scratch) / "in.wav", Path(scratch) / "out.wav"
        soundfile.write(source, audio.T, RATE, subtype="FLOAT")
        environment = dict(os.environ, LADSPA_PATH=LADSPA_PATH)
        done = subprocess.run([sox, str(source), "-e", "floating-point", "-b", "32", str(sink), *effects],
                              capture_output=True, text=True, env=environment)
        if done.returncode:
            raise CaptureError(f"sox failed: {done.stderr.strip()}")
        out, _ = soundfile.read(sink, dtype="float32", always_2d=True)
    return out.T, 0


def run_pedalboard(chain: Sequence[Tuple[str, Dict[str, float]]], audio: np.ndarray) -> Tuple[np.ndarray, int]:
    """Process audio through a pedalboard chain of ``(plugin class name, arguments)``; latency 0."""
    try:
        import pedalboard
    except ImportError as error:
        raise CaptureError("pedalboard is missing: pip install 'ddsp_kit[datasets]'") from error
    board = pedalboard.Pedalboard([getattr(pedalboard, name)(**args) for name, args in chain])
    return board(audio.astype(np.float32), RATE), 0


# --- devices ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    """A real effect at fixed settings, on one input clip.

    ``settings`` are the host's control values: LV2 port symbols, sox arguments
    (the effects list is formatted with them) or ``"<index>.<argument>"`` of a
    pedalboard chain (whose ``target`` lists the plugin classes).
    """

    id: str
    family: str
    clip: str
    host: str  # "lv2", "sox" or "pedalboard"
    target: object  # LV2 URI, sox effects template, or pedalboard chain of (class name, {})
    settings: Dict[str, float] = field(default_factory=dict)
    stereo: bool = False  # feed the mono clip on two channels

    def process(self, audio: np.ndarray, settings: Optional[Dict[str, float]] = None) -> Tuple[np.ndarray, int]:
        values = {**self.settings, **(settings or {})}
        if self.host == "lv2":
            return run_lv2(self.target, audio, values)
        if self.host == "sox":
            return run_sox([word.format(**values) for word in self.target], audio)
        chain = [(name, dict(args)) for name, args in self.target]
        for key, value in values.items():
            index, argument = key.split(".", 1)
            chain[int(index)][1][argument] = value
        return run_pedalboard(chain, audio)


def _pedalboard_device(device_id: str, family: str, clip: str, chain: List[Tuple[str, Dict[str, float]]]) -> Device:
    """A pedalboard chain whose every argument is a setting ``"<index>.<argument>"``."""
    settings = {f"{index}.{name}": value for index, (_, args) in enumerate(chain) for name, value in args.items()}
    return Device(device_id, family, clip, "pedalboard", [(name, {}) for name, _ in chain], settings)


# caps AmpVTS ports in order (read from its LADSPA descriptor), then CabinetIV's model and gain (dB).
_AMP_VTS = "gain -6 ladspa caps.so AmpVTS {over} {gain} {bright} {power} {tonestack} {bass} {mid} {treble} {attack} {squash} {lowcut}".split()
DEVICES: Dict[str, Device] = {
    device.id: device
    for device in (
        Device("ts9", "overdrive", "gtr", "lv2", "http://guitarix.sourceforge.net/plugins/gxts9#ts9sim",
               {"fslider2_": 0.6, "fslider1_": 500, "fslider0_": -8}),
        Device("lsp_comp", "compressor", "bass_drums", "lv2", "http://lsp-plug.in/plugins/lv2/compressor_mono",
               {"al": 0.0631, "cr": 4, "at": 10, "rt": 150, "kn": 0.5, "mk": 1.5}),
        Device("amp_vts_cab", "amp + cabinet", "gtr", "sox", [*_AMP_VTS, "ladspa", "caps.so", "CabinetIV", "{cabinet}", "{cabinet_db}"],
               {"over": 2, "gain": 0.9, "bright": 0.75, "power": 0.5, "tonestack": 0, "bass": 0.25, "mid": 0.75, "treble": 1,
                "attack": 0.25, "squash": 0.75, "lowcut": 0.75, "cabinet": 12, "cabinet_db": 0}),
        Device("lsp_peq", "parametric EQ", "mix", "lv2", "http://lsp-plug.in/plugins/lv2/para_equalizer_x16_mono",
               {"ft_0": 5, "f_0": 120, "g_0": 2.0, "q_0": 0.7, "ft_1": 1, "f_1": 800, "g_1": 0.5, "q_1": 1,
                "ft_2": 3, "f_2": 4000, "g_2": 1.78, "q_2": 0.7}),
        Device("calf_reverb", "reverb", "bass_drums", "lv2", "http://calf.sourceforge.net/plugins/Reverb",
               {"decay_time": 1.8, "amount": 0.5, "dry": 0.7, "room_size": 3}, stereo=True),
        _pedalboard_device("pb_chain", "known chain", "gtr", [
            ("HighpassFilter", {"cutoff_frequency_hz": 120}),
            ("Compressor", {"threshold_db": -24, "ratio": 4, "attack_ms": 5, "release_ms": 120}),
            ("Gain", {"gain_db": 12}), ("Distortion", {"drive_db": 14}),
            ("LowShelfFilter", {"cutoff_frequency_hz": 300, "gain_db": -3}),
            ("PeakFilter", {"cutoff_frequency_hz": 1800, "gain_db": 5, "q": 0.8}),
            ("LowpassFilter", {"cutoff_frequency_hz": 5000}), ("Gain", {"gain_db": -20})]),
    )
}


def _clip(root: Path, device: Device, audio: Optional[np.ndarray] = None) -> np.ndarray:
    """The device's input ``(channels, samples)``: ``audio`` (mono) or its rendered clip, doubled when stereo."""
    if audio is None:
        audio = soundfile.read(render_inputs(root)[device.clip], dtype="float32", always_2d=True)[0].T[0]
    mono = np.asarray(audio, dtype=np.float32).reshape(1, -1)
    if mono.size == 0 or not np.isfinite(mono).all():
        raise CaptureError("the input must hold finite samples")
    return np.concatenate([mono, mono]) if device.stereo else mono


def _card(device: Device, latency: int, settings: Dict[str, float], extra: Optional[dict] = None) -> dict:
    return {
        "dataset": f"ddsp_kit device capture: {device.id}",
        "family": device.family,
        "input": f"{device.clip} clip (datasets/README.md): 60 s, 48 kHz, mono" + (", duplicated to stereo" if device.stereo else ""),
        "host": device.host,
        "effect": " ".join(device.target) if device.host == "sox" else device.target,
        "settings": settings,
        "reported_latency": latency,
        "latency_compensated": False,
        "split": "by time: first 60% train, next 20% validation, last 20% test",
        **(extra or {}),
    }


def capture_device(device_id: str, root: Path, audio: Optional[np.ndarray] = None) -> Path:
    """Render one development device into ``root/<id>`` (plain layout with ``card.json``); returns the folder.

    Args:
        audio: a mono input at 48 kHz instead of the device's clip (the card then says so).
    """
    if device_id not in DEVICES:
        raise CaptureError(f"unknown device {device_id!r}; devices: {sorted(DEVICES)}")
    device = DEVICES[device_id]
    x = _clip(root, device, audio)
    y, latency = device.process(x)
    if y.shape[-1] != x.shape[-1] or not np.isfinite(y).all():
        raise CaptureError(f"{device_id}: the host returned {y.shape} samples with non-finite values or a length != {x.shape}")
    folder = root / device.id
    folder.mkdir(parents=True, exist_ok=True)
    soundfile.write(folder / f"{device.id}.input.wav", x.T, RATE, subtype="FLOAT")
    soundfile.write(folder / f"{device.id}.target.wav", y.T, RATE, subtype="FLOAT")
    extra = {"input": f"a given input of {x.shape[-1] / RATE:g} s"} if audio is not None else None
    (folder / "card.json").write_text(json.dumps(_card(device, latency, device.settings, extra), indent=2))
    return folder


def capture_grid(
    device_id: str, root: Path, knobs: Dict[str, Tuple[str, float, float]], steps: int, audio: Optional[np.ndarray] = None
) -> Path:
    """Sweep a grid of settings into a ToneTwist AFx folder ``root/<id>_grid``; returns it.

    Args:
        knobs: knob letter -> (setting name, value at 0, value at 1); the grid takes
            ``steps`` evenly spaced knob values in [0, 1] per knob (every combination).
        audio: a mono input at 48 kHz instead of the device's clip.
    """
    if device_id not in DEVICES:
        raise CaptureError(f"unknown device {device_id!r}; devices: {sorted(DEVICES)}")
    if steps < 2:
        raise CaptureError("a grid needs --steps >= 2")
    device = DEVICES[device_id]
    unknown = sorted(setting for setting, _, _ in knobs.values() if setting not in device.settings)
    if unknown:
        raise CaptureError(f"{device_id} has no setting(s) {unknown}; it has {sorted(device.settings)}")
    x = _clip(root, device, audio)
    folder = root / f"{device.id}_grid"
    folder.mkdir(parents=True, exist_ok=True)
    soundfile.write(folder / f"{device.id}.input.wav", x.T, RATE, subtype="FLOAT")
    letters = sorted(knobs)
    settings_by_params = {}
    for values in itertools.product(np.linspace(0, 1, steps), repeat=len(letters)):
        params = "".join(f"{letter}{round(100 * v):03d}" for letter, v in zip(letters, values))
        settings = {knobs[l][0]: knobs[l][1] + v * (knobs[l][2] - knobs[l][1]) for l, v in zip(letters, values)}
        y, latency = device.process(x, settings)
        (folder / params).mkdir(exist_ok=True)
        soundfile.write(folder / params / f"{params}.{device.id}.target.wav", y.T, RATE, subtype="FLOAT")
        settings_by_params[params] = {**device.settings, **settings}
    knob_card = {letter: {"setting": s, "at_0": lo, "at_1": hi} for letter, (s, lo, hi) in knobs.items()}
    card = _card(device, latency, device.settings, {"layout": "tonetwist", "knobs": knob_card, "targets": settings_by_params})
    (folder / "card.json").write_text(json.dumps(card, indent=2))
    return folder


def report(folder: Path) -> str:
    """The data-quality report of a plain-layout capture (the whole length as one split)."""
    card = json.loads((folder / "card.json").read_text()) if (folder / "card.json").is_file() else {}
    dataset = PairedAudioDataset(plain_pairs(folder), RATE, segment_samples=1, fractions=(1.0, 0.0, 0.0))
    return (f"{card.get('dataset', folder.name)}\n" if card else "") + format_report(quality_report(dataset))


def _knob(text: str) -> Tuple[str, Tuple[str, float, float]]:
    try:
        letter, rest = text.split("=", 1)
        setting, low, high = rest.rsplit(":", 2)
        if len(letter) != 1 or not letter.isalpha():
            raise ValueError
        return letter.upper(), (setting, float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--knob takes LETTER=SETTING:AT0:AT1 (e.g. D=fslider2_:0:1), got {text!r}") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="where captures go (default $DDSP_KIT_CACHE/devices)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("inputs", help="render the input clips")
    device = commands.add_parser("device", help="capture development devices")
    device.add_argument("ids", nargs="+", choices=[*DEVICES, "all"])
    grid = commands.add_parser("grid", help="capture a knob grid of one device (ToneTwist layout)")
    grid.add_argument("id", choices=list(DEVICES))
    grid.add_argument("--knob", type=_knob, action="append", required=True, help="LETTER=SETTING:AT0:AT1")
    grid.add_argument("--steps", type=int, default=3)
    quality = commands.add_parser("report", help="print the data-quality report of captured devices")
    quality.add_argument("ids", nargs="+", choices=list(DEVICES))
    args = parser.parse_args(argv)
    root = (args.root or cache_dir() / "devices").expanduser()
    try:
        if args.command == "inputs":
            for name, path in render_inputs(root).items():
                print(f"{name}: {path}")
        elif args.command == "device":
            for device_id in DEVICES if "all" in args.ids else args.ids:
                print(f"{device_id}: {capture_device(device_id, root)}")
        elif args.command == "grid":
            print(capture_grid(args.id, root, dict(args.knob), args.steps))
        else:
            for device_id in args.ids:
                print(report(root / device_id))
    except CaptureError as error:
        print(f"capture: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
