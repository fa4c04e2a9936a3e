"""ddsp_kit.data: pair discovery in the three layouts, the checks, splits, crops and alignment."""

import json
import logging

import numpy as np
import pytest
import torch

soundfile = pytest.importorskip("soundfile")

from ddsp_kit.data import (  # noqa: E402
    Pair,
    PairedAudioDataset,
    check_polarity,
    estimate_lag,
    plain_pairs,
    signaltrain_pairs,
    tonetwist_pairs,
)

RATE = 8000


def noise(samples, channels=1, seed=0):
    return np.random.default_rng(seed).standard_normal((samples, channels)).astype(np.float32) * 0.1


def write(path, audio, rate=RATE):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), audio, rate, subtype="FLOAT")
    return path


def plain_folder(root, names=("a", "b"), samples=4000, channels=1):
    for i, name in enumerate(names):
        x = noise(samples, channels, seed=i)
        write(root / f"{name}.input.wav", x)
        write(root / f"{name}.target.wav", np.tanh(3 * x))
    return root


# ---------------------------------------------------------------- layouts


def test_plain_layout_knobs_from_sidecar_and_name(tmp_path):
    x = noise(100)
    write(tmp_path / "riff_drive=0.6.input.wav", x)
    write(tmp_path / "riff_drive=0.6.target.wav", x)
    write(tmp_path / "clean.input.wav", x)
    write(tmp_path / "clean.target.wav", x)
    (tmp_path / "clean.json").write_text(json.dumps({"knobs": {"drive": 0.25}}))
    write(tmp_path / "input" / "solo.wav", x)
    write(tmp_path / "target" / "solo.wav", x)
    pairs = plain_pairs(tmp_path)
    by_name = {p.target_path.name: p for p in pairs}
    assert by_name["riff_drive=0.6.target.wav"].knobs == {"drive": 0.6}
    assert by_name["clean.target.wav"].knobs == {"drive": 0.25}
    assert by_name["clean.target.wav"].input_path == tmp_path / "clean.input.wav"
    assert by_name["solo.wav"].input_path == tmp_path / "input" / "solo.wav"
    assert by_name["solo.wav"].knobs == {}


def test_plain_layout_conflicting_knobs(tmp_path):
    write(tmp_path / "a_drive=0.6.input.wav", noise(10))
    write(tmp_path / "a_drive=0.6.target.wav", noise(10))
    (tmp_path / "a_drive=0.6.json").write_text(json.dumps({"knobs": {"drive": 0.5}}))
    with pytest.raises(ValueError, match="a_drive=0.6.target.wav.*drive"):
        plain_pairs(tmp_path)


def test_tonetwist_layout(tmp_path):
    x = noise(100)
    write(tmp_path / "gtr.input.wav", x)
    write(tmp_path / "D050T075" / "D050T075.gtr.target.wav", x)
    write(tmp_path / "D100T000" / "D100T000.gtr.target.wav", x)
    pairs = tonetwist_pairs(tmp_path, knob_names={"D": "drive"})
    assert [p.knobs for p in pairs] == [{"drive": 0.5, "T": 0.75}, {"drive": 1.0, "T": 0.0}]
    assert all(p.input_path == tmp_path / "gtr.input.wav" for p in pairs)


def test_signaltrain_layout(tmp_path):
    x = noise(100)
    write(tmp_path / "Train" / "input_138_.wav", x)
    write(tmp_path / "Train" / "target_138_LA2A_3c__1__45.wav", x)
    write(tmp_path / "Train" / "target_138_LA2A_3c__0__100.wav", x)
    pairs = signaltrain_pairs(tmp_path)
    assert [p.knobs for p in pairs] == [{"switch": 0.0, "peak": 1.0}, {"switch": 1.0, "peak": 0.45}]
    assert all(p.input_path.name == "input_138_.wav" for p in pairs)


@pytest.mark.parametrize(
    "layout, files, culprit",
    [
        (plain_pairs, ["a.input.wav"], "a.input.wav"),  # unpaired input
        (plain_pairs, ["a.input.wav", "a.target.wav", "b.target.wav"], "b.target.wav"),  # unpaired target
        (plain_pairs, ["a.input.wav", "a.target.wav", "a.dry.wav"], "a.dry.wav"),  # wrong name
        (plain_pairs, ["input/a.wav"], "a.wav"),
        (tonetwist_pairs, ["g.input.wav", "D050/D050.h.target.wav"], "D050.h.target.wav"),  # unpaired target
        (tonetwist_pairs, ["g.input.wav", "D050/D050.g.target.wav", "h.input.wav"], "h.input.wav"),
        (tonetwist_pairs, ["g.input.wav", "D050/D060.g.target.wav"], "D060.g.target.wav"),  # folder != PARAMS
        (tonetwist_pairs, ["g.input.wav", "D50/D50.g.target.wav"], "D50.g.target.wav"),  # not 3 digits
        (tonetwist_pairs, ["g.input.wav", "D150/D150.g.target.wav"], "D150.g.target.wav"),  # above 100
        (tonetwist_pairs, ["g.wav"], "g.wav"),
        (signaltrain_pairs, ["input_1_.wav", "target_2_LA2A_3c__0__50.wav"], "target_2_"),
        (signaltrain_pairs, ["input_1_.wav", "target_1_LA2A_3c__2__50.wav"], "target_1_"),  # switch 2
        (signaltrain_pairs, ["input_1_.wav", "target_1_LA2A_3c__0__150.wav"], "target_1_"),  # peak > 100
        (signaltrain_pairs, ["input_1_.wav", "target_1_LA2A_3c__0__50.wav", "input_2_.wav"], "input_2_"),
        (signaltrain_pairs, ["input_1.wav"], "input_1.wav"),
    ],
)
def test_layout_errors_name_the_file(tmp_path, layout, files, culprit):
    for name in files:
        write(tmp_path / name, noise(10))
    with pytest.raises(ValueError, match=culprit.replace(".", r"\.")):
        layout(tmp_path)


def test_empty_folder_and_bad_knob(tmp_path):
    with pytest.raises(ValueError, match="no input/target pairs"):
        plain_pairs(tmp_path)
    with pytest.raises(ValueError, match="t.wav.*drive"):
        Pair("i.wav", "t.wav", {"drive": 1.5})


# ---------------------------------------------------------------- checks


def dataset(pairs, **options):
    options = {"sample_rate": RATE, "segment_samples": 200, "warmup_samples": 50, **options}
    return PairedAudioDataset(pairs, **options)


@pytest.mark.parametrize(
    "bad, culprit, message",
    [
        (lambda d: write(d / "b.target.wav", noise(4000), rate=RATE * 2), "b.target.wav", "sample rate"),
        (lambda d: write(d / "b.target.wav", noise(3000)), "b.target.wav", "samples"),
        (lambda d: write(d / "b.target.wav", np.zeros((4000, 1), np.float32)), "b.target.wav", "silent"),
        (lambda d: write(d / "b.input.wav", np.full((4000, 1), np.nan, np.float32)), "b.input.wav", "NaN"),
        (lambda d: write(d / "b.target.wav", np.zeros((0, 1), np.float32)), "b.target.wav", "empty"),
        (lambda d: write(d / "b.target.wav", noise(4000, channels=2)), "b.target.wav", "channels"),
        (lambda d: (d / "b.target.wav").write_bytes(b"not audio"), "b.target.wav", "cannot read"),
    ],
)
def test_bad_files_name_the_file(tmp_path, bad, culprit, message):
    plain_folder(tmp_path)
    bad(tmp_path)
    pairs = plain_pairs(tmp_path)
    with pytest.raises(ValueError, match=f"{culprit.replace('.', '[.]')}.*{message}"):
        dataset(pairs, split_by="file", split="train", fractions=(1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match=culprit.replace(".", "[.]")):  # every pair is checked, whatever the split
        dataset(pairs)


def test_resample_and_trim_are_explicit_and_logged(tmp_path, caplog):
    x = noise(4000)
    write(tmp_path / "a.input.wav", x)
    write(tmp_path / "a.target.wav", np.repeat(x, 2, axis=0), rate=2 * RATE)
    write(tmp_path / "b.input.wav", x)
    write(tmp_path / "b.target.wav", x[:3500])
    pairs = plain_pairs(tmp_path)
    with pytest.raises(ValueError, match="a.target.wav.*resample=True"):
        dataset(pairs, trim=True)
    with pytest.raises(ValueError, match="b.target.wav.*trim=True"):
        dataset(pairs, resample=True)
    with caplog.at_level(logging.INFO, logger="ddsp_kit.data"):
        data = dataset(pairs, resample=True, trim=True)
    assert "resampled" in caplog.text and "trimmed" in caplog.text
    assert data._spans[0][4] == 4000 and data._spans[1][4] == 3500


def test_knob_missing_on_some_pairs(tmp_path):
    plain_folder(tmp_path)
    (tmp_path / "a.json").write_text(json.dumps({"knobs": {"drive": 0.5}}))
    with pytest.raises(ValueError, match="b.target.wav.*drive"):
        dataset(plain_pairs(tmp_path))


# ---------------------------------------------------------------- splits and crops


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_time_split_crops_lie_inside_their_range(tmp_path, split):
    plain_folder(tmp_path, samples=5000, channels=2)
    pairs = plain_pairs(tmp_path)
    knobbed = [Pair(p.input_path, p.target_path, {"drive": 0.3, "tone": 0.9}) for p in pairs]
    data = dataset(knobbed, split=split)
    low, high = {"train": (0, 3000), "validation": (3000, 4000), "test": (4000, 5000)}[split]
    assert len(data) == 2 * ((high - low) // 250)
    for i in range(len(data)):
        item = data[i]
        assert item["input"].shape == item["target"].shape == (2, 250)
        assert item["input"].dtype == torch.float32
        assert item["knobs"].tolist() == pytest.approx([0.3, 0.9]) and item["warmup"] == 50
        pair, start = data.crop_start(i)
        assert low <= start and start + 250 <= high
        x = soundfile.read(str(data.pairs[pair].input_path), dtype="float32", always_2d=True)[0].T
        np.testing.assert_array_equal(item["input"].numpy(), x[:, start : start + 250])
    assert data.knob_names == ["drive", "tone"]


def test_validation_crops_are_consecutive_and_train_is_seeded(tmp_path):
    pairs = plain_pairs(plain_folder(tmp_path, samples=5000))
    validation = dataset(pairs, split="validation")
    starts = [validation.crop_start(i) for i in range(len(validation))]
    assert starts == [(p, s) for p in (0, 1) for s in (3000, 3250, 3500, 3750)]
    a, b, c = dataset(pairs, seed=1), dataset(pairs, seed=1), dataset(pairs, seed=2)
    starts = lambda d: [d.crop_start(i) for i in range(len(d))]  # noqa: E731
    assert starts(a) == starts(b) != starts(c)
    torch.testing.assert_close(a[3], b[3])
    before = starts(a)
    a.set_epoch(1)
    assert starts(a) != before
    assert len({s for _, s in before}) > 1  # random offsets, not a fixed grid


def test_file_split_does_not_overlap(tmp_path):
    names = [f"f{i}" for i in range(10)]
    pairs = plain_pairs(plain_folder(tmp_path, names=names, samples=600))
    splits = {s: dataset(pairs, split=s, split_by="file", seed=3) for s in ("train", "validation", "test")}
    inputs = {s: {p.input_path for p in d.pairs} for s, d in splits.items()}
    assert [len(v) for v in inputs.values()] == [6, 2, 2]
    assert len(inputs["train"] | inputs["validation"] | inputs["test"]) == 10  # disjoint
    again = dataset(pairs, split="train", split_by="file", seed=3)
    assert {p.input_path for p in again.pairs} == inputs["train"]
    assert {p.input_path for p in dataset(pairs, split="train", split_by="file", seed=4).pairs} != inputs["train"]
    assert all(0 <= splits["test"].crop_start(i)[1] <= 600 - 250 for i in range(len(splits["test"])))


def test_file_split_keeps_targets_with_their_input(tmp_path):
    for i in range(5):
        write(tmp_path / f"g{i}.input.wav", noise(600, seed=i))
        for params in ("D000", "D100"):
            write(tmp_path / params / f"{params}.g{i}.target.wav", noise(600, seed=i))
    pairs = tonetwist_pairs(tmp_path)
    data = {s: dataset(pairs, split=s, split_by="file") for s in ("train", "validation", "test")}
    assert sum(len(d.pairs) for d in data.values()) == 10
    for d in data.values():
        assert all(sum(q.input_path == p.input_path for q in d.pairs) == 2 for p in d.pairs)


def test_split_too_short_for_a_crop(tmp_path):
    pairs = plain_pairs(plain_folder(tmp_path, samples=1000))
    with pytest.raises(ValueError, match="a.target.wav.*test range holds 200 samples"):
        dataset(pairs, split="test")


# ---------------------------------------------------------------- alignment


@pytest.mark.parametrize("lag", [0, 13, -9])
def test_estimate_lag_recovers_integer_lags(lag):
    x = torch.from_numpy(noise(3000, 2).T)
    y = torch.roll(x, lag, -1)
    assert estimate_lag(x, y, max_lag=40) == lag
    assert estimate_lag(x, -y, max_lag=40) == lag
    assert estimate_lag(x[..., :2000], y, max_lag=40) == lag  # unequal lengths
    assert check_polarity(x, -y, max_lag=40) == -1 and check_polarity(x, y, max_lag=40) == 1


def test_alignment_bad_arguments():
    x = torch.zeros(1, 10)
    with pytest.raises(ValueError, match="max_lag"):
        estimate_lag(x, x, max_lag=-1)
    with pytest.raises(ValueError, match="leading dims"):
        estimate_lag(x, torch.zeros(2, 10), max_lag=1)
    assert estimate_lag(x, x, max_lag=3) == 0 and check_polarity(x, x) == 1


def test_dataset_compensates_a_lag_and_reports_polarity(tmp_path, caplog):
    x = noise(6000, seed=5)
    write(tmp_path / "a.input.wav", x)
    write(tmp_path / "a.target.wav", -0.5 * np.concatenate([np.zeros((17, 1), np.float32), x[:-17]]))
    pairs = plain_pairs(tmp_path)
    with caplog.at_level(logging.INFO, logger="ddsp_kit.data"):
        raw = dataset(pairs, split="validation", max_lag=64)
    assert raw.lags == [17] and raw.polarities == [-1]
    assert "polarity inverted" in caplog.text and "not compensated" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ddsp_kit.data"):
        aligned = dataset(pairs, split="validation", max_lag=64, compensate_lag=True)
    assert "shifted earlier" in caplog.text
    for i in range(len(aligned)):
        item = aligned[i]
        np.testing.assert_allclose(item["target"].numpy(), -0.5 * item["input"].numpy(), atol=1e-7)
    assert not np.allclose(raw[0]["target"].numpy(), -0.5 * raw[0]["input"].numpy())


# ---------------------------------------------------------------- quality report


def test_quality_report_finds_clipping_silence_dc_lag_and_polarity(tmp_path):
    from ddsp_kit.data import format_report, quality_report, signal_quality

    x = noise(8000, seed=7)
    write(tmp_path / "clean.input.wav", x)
    write(tmp_path / "clean.target.wav", 0.5 * x)
    bad = -np.clip(8 * np.roll(x, 5, axis=0), -1, 1)  # inverted, 5 samples late, clipped
    bad[: len(bad) // 2 + 800] = 0  # silent over the first half
    write(tmp_path / "bad.input.wav", x)
    write(tmp_path / "bad.target.wav", bad + 0.02)  # and a DC offset
    dataset = PairedAudioDataset(plain_pairs(tmp_path), RATE, segment_samples=400, fractions=(1.0, 0.0, 0.0))
    rows = {row["target"].split("/")[-1]: row for row in quality_report(dataset)}
    clean, broken = rows["clean.target.wav"], rows["bad.target.wav"]
    assert clean["target_rms_db"] - clean["input_rms_db"] == pytest.approx(-6.02, abs=0.01)
    assert clean["lag"] == 0 and not clean["inverted"] and clean["target_clipped"] == 0
    assert broken["lag"] == 5 and broken["inverted"]
    assert broken["target_clipped"] > 100 and broken["target_dc"] == pytest.approx(0.02, abs=0.01)
    text = format_report(list(rows.values()))
    for phrase in ("clipped samples", "polarity inverted", "DC offset", "lags its input by 5 samples"):
        assert phrase in text
    silent = signal_quality(np.zeros((1, 8000), dtype=np.float32), RATE)
    assert silent["silent"] == 1.0 and silent["peak_db"] == -200.0
