r"""Discovery of (input, target) recording pairs in the three supported folder layouts.

Each layout function walks a folder and returns a list of :class:`Pair`, sorted
by target path, with the knob settings the target was recorded at (each knob
normalised to ``[0, 1]``). Nothing is read but file names and JSON sidecars:
the audio itself is checked by :class:`ddsp_kit.data.PairedAudioDataset`.

``plain_pairs`` (any capture of your own)
    ``<name>.input.wav`` + ``<name>.target.wav`` side by side in the folder,
    and/or ``input/<name>.wav`` + ``target/<name>.wav`` in two sub-folders.
    Knob values come from two places, merged:

    * a JSON sidecar ``<name>.json`` next to the ``.input.wav`` (or in the root
      folder for the sub-folder layout): ``{"knobs": {"drive": 0.6}}``;
    * the name itself: every ``_``-separated token of ``<name>`` of the form
      ``<knob>=<value>`` (letters, digits and ``-`` in the knob name, a decimal
      value), e.g. ``riff_drive=0.6_tone=0.25.input.wav``.

    A knob given in both places must have the same value (ValueError otherwise).
``tonetwist_pairs`` (ToneTwist AFx)
    ``<name>.input.wav`` in the folder and, for every setting recorded,
    ``<PARAMS>/<PARAMS>.<name>.target.wav``, where ``PARAMS`` concatenates a
    knob letter and a 3-digit value ``000``-``100`` per knob (``D050T075``:
    knob ``D`` at 0.5, ``T`` at 0.75). One input usually has many targets.
``signaltrain_pairs`` (SignalTrain LA-2A)
    ``input_<ID>_.wav`` and ``target_<ID>_LA2A_<n>c__<switch>__<peak>.wav`` in
    the same folder (searched recursively, e.g. ``Train/``, ``Val/``,
    ``Test/``): knob ``switch`` is the compress/limit switch (0 or 1), knob
    ``peak`` the peak reduction 0-100 divided by 100.

Every layout raises a ValueError naming the offending file for a ``.wav`` whose
name does not fit the layout, an input without a target, a target without its
input, and a knob value outside ``[0, 1]``.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["Pair", "plain_pairs", "tonetwist_pairs", "signaltrain_pairs"]


@dataclass(frozen=True)
class Pair:
    """One recording pair: the dry input, the processed target, and the knob settings.

    Args:
        input_path: the dry signal fed to the effect.
        target_path: the effect's output for that input.
        knobs: knob name -> value normalised to ``[0, 1]`` (empty for an effect
            without controls).

    >>> Pair("a.input.wav", "a.target.wav", {"drive": 0.5}).knobs
    {'drive': 0.5}
    """

    input_path: Path
    target_path: Path
    knobs: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "input_path", Path(self.input_path))
        object.__setattr__(self, "target_path", Path(self.target_path))
        knobs = {}
        for name, value in dict(self.knobs).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{self.target_path}: knob {name!r} must be a number in [0, 1], got {value!r}")
            knobs[str(name)] = float(value)
        object.__setattr__(self, "knobs", knobs)


def _folder(root) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    return root


def _wavs(folder: Path, recursive: bool = False) -> List[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() == ".wav")


def _finish(pairs: List[Pair], root: Path) -> List[Pair]:
    if not pairs:
        raise ValueError(f"{root}: no input/target pairs found")
    return sorted(pairs, key=lambda pair: str(pair.target_path))


_NAME_KNOB = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)=([0-9]*\.?[0-9]+)$")


def _name_knobs(name: str) -> Dict[str, float]:
    """Knobs written in a file name as ``_``-separated ``<knob>=<value>`` tokens.

    >>> _name_knobs("riff_drive=0.6_tone=.25")
    {'drive': 0.6, 'tone': 0.25}
    """
    return {m.group(1): float(m.group(2)) for m in map(_NAME_KNOB.match, name.split("_")) if m}


def _sidecar_knobs(path: Path) -> Dict[str, float]:
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable JSON sidecar ({error})") from None
    knobs = content.get("knobs", {}) if isinstance(content, dict) else None
    if not isinstance(knobs, dict):
        raise ValueError(f'{path}: expected {{"knobs": {{name: value in [0, 1]}}}}, got {content!r}')
    return knobs


def _plain_knobs(name: str, sidecar: Path, target: Path) -> Dict[str, float]:
    from_name, from_file = _name_knobs(name), _sidecar_knobs(sidecar)
    for knob in from_name.keys() & from_file.keys():
        if from_name[knob] != from_file[knob]:
            raise ValueError(
                f"{target}: knob {knob!r} is {from_name[knob]!r} in the file name but {from_file[knob]!r} in {sidecar}"
            )
    return {**from_name, **from_file}


def _match(inputs: Dict[str, Path], targets: Dict[str, Path]) -> None:
    """ValueError naming the first input without target, or target without input."""
    alone = sorted(inputs.keys() - targets.keys())
    if alone:
        raise ValueError(f"{inputs[alone[0]]}: input has no matching target")
    alone = sorted(targets.keys() - inputs.keys())
    if alone:
        raise ValueError(f"{targets[alone[0]]}: target has no matching input")


def plain_pairs(root) -> List[Pair]:
    """Pairs in a plain folder: ``<name>.input.wav``/``<name>.target.wav`` and ``input/``/``target/``.

    Knob values come from ``<name>.json`` sidecars and ``<knob>=<value>`` name
    tokens (see the module documentation for the rule).

    Args:
        root: the folder.

    Returns:
        the pairs, sorted by target path.
    """
    root = _folder(root)
    inputs, targets = {}, {}
    for path in _wavs(root):
        for suffix, found in ((".input.wav", inputs), (".target.wav", targets)):
            if path.name.lower().endswith(suffix):
                found[path.name[: -len(suffix)]] = path
                break
        else:
            raise ValueError(f"{path}: expected <name>.input.wav or <name>.target.wav in a plain folder")
    _match(inputs, targets)
    pairs = [Pair(inputs[n], targets[n], _plain_knobs(n, root / f"{n}.json", targets[n])) for n in inputs]
    if (root / "input").is_dir() or (root / "target").is_dir():
        sub_inputs = {p.stem: p for p in _wavs(root / "input")} if (root / "input").is_dir() else {}
        sub_targets = {p.stem: p for p in _wavs(root / "target")} if (root / "target").is_dir() else {}
        _match(sub_inputs, sub_targets)
        for n in sub_inputs:
            if n in inputs:
                raise ValueError(f"{sub_inputs[n]}: name {n!r} is also used by {inputs[n]}")
            pairs.append(Pair(sub_inputs[n], sub_targets[n], _plain_knobs(n, root / f"{n}.json", sub_targets[n])))
    return _finish(pairs, root)


_TONETWIST_PARAMS = re.compile(r"^(?:[A-Za-z][0-9]{3})+$")


def _tonetwist_knobs(params: str, path: Path, names: Optional[Dict[str, str]]) -> Dict[str, float]:
    """Knob letters and 3-digit values ``000``-``100`` of a ToneTwist ``PARAMS`` string, divided by 100.

    >>> _tonetwist_knobs("D050T075", Path("x.wav"), None)
    {'D': 0.5, 'T': 0.75}
    """
    if not _TONETWIST_PARAMS.match(params):
        raise ValueError(f"{path}: {params!r} is not a ToneTwist PARAMS string (knob letter + 3 digits, e.g. D050T075)")
    knobs = {}
    for letter, digits in re.findall(r"([A-Za-z])([0-9]{3})", params):
        name = names.get(letter, letter) if names else letter
        if name in knobs:
            raise ValueError(f"{path}: knob {letter!r} appears twice in {params!r}")
        if int(digits) > 100:
            raise ValueError(f"{path}: knob {letter!r} value {digits} is above 100 in {params!r}")
        knobs[name] = int(digits) / 100
    return knobs


def tonetwist_pairs(root, knob_names: Optional[Dict[str, str]] = None) -> List[Pair]:
    """Pairs in a ToneTwist AFx folder: ``<name>.input.wav`` and ``<PARAMS>/<PARAMS>.<name>.target.wav``.

    Args:
        root: the folder holding the inputs and one sub-folder per setting.
        knob_names: optional knob letter -> knob name (e.g. ``{"D": "drive"}``);
            letters not listed keep the letter as their name.

    Returns:
        one pair per target, sorted by target path.
    """
    root = _folder(root)
    inputs = {}
    for path in _wavs(root):
        if not path.name.lower().endswith(".input.wav"):
            raise ValueError(f"{path}: expected <name>.input.wav in a ToneTwist folder")
        inputs[path.name[: -len(".input.wav")]] = path
    pairs, used = [], set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in _wavs(folder):
            params, _, rest = path.name.partition(".")
            if params != folder.name or not rest.lower().endswith(".target.wav") or len(rest) <= len(".target.wav"):
                raise ValueError(f"{path}: expected {folder.name}/{folder.name}.<name>.target.wav in a ToneTwist folder")
            name = rest[: -len(".target.wav")]
            if name not in inputs:
                raise ValueError(f"{path}: target has no matching input {name}.input.wav")
            used.add(name)
            pairs.append(Pair(inputs[name], path, _tonetwist_knobs(params, path, knob_names)))
    _match(inputs, dict.fromkeys(used))
    return _finish(pairs, root)


_SIGNALTRAIN_INPUT = re.compile(r"^input_([0-9]+)_\.wav$", re.IGNORECASE)
_SIGNALTRAIN_TARGET = re.compile(r"^target_([0-9]+)_LA2A_[0-9]+c__([0-9]+)__([0-9]+(?:\.[0-9]+)?)\.wav$", re.IGNORECASE)


def signaltrain_pairs(root) -> List[Pair]:
    """Pairs in a SignalTrain LA-2A folder: ``input_<ID>_.wav`` and ``target_<ID>_LA2A_<n>c__<switch>__<peak>.wav``.

    Inputs and targets are matched by ``ID`` within a folder; sub-folders are
    searched too. Knobs: ``switch`` (0 or 1) and ``peak`` (peak reduction / 100).

    Args:
        root: the folder.

    Returns:
        one pair per target, sorted by target path.
    """
    root = _folder(root)
    inputs, targets = {}, []
    for path in _wavs(root, recursive=True):
        if m := _SIGNALTRAIN_INPUT.match(path.name):
            inputs[(path.parent, m.group(1))] = path
        elif m := _SIGNALTRAIN_TARGET.match(path.name):
            targets.append((path, m))
        else:
            raise ValueError(f"{path}: expected input_<ID>_.wav or target_<ID>_LA2A_<n>c__<switch>__<peak>.wav")
    pairs, used = [], set()
    for path, m in targets:
        key = (path.parent, m.group(1))
        if key not in inputs:
            raise ValueError(f"{path}: target has no matching input input_{m.group(1)}_.wav")
        switch, peak = int(m.group(2)), float(m.group(3))
        if switch not in (0, 1):
            raise ValueError(f"{path}: switch must be 0 or 1, got {switch}")
        if peak > 100:
            raise ValueError(f"{path}: peak reduction must lie in 0-100, got {m.group(3)}")
        used.add(key)
        pairs.append(Pair(inputs[key], path, {"switch": float(switch), "peak": peak / 100}))
    _match(inputs, dict.fromkeys(used))
    return _finish(pairs, root)
