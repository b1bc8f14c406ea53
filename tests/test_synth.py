"""Synthetic datasets: balanced, seeded, in the exact formats, and the label is in the frames and only there."""

import collections
import copy
import csv
import json

import av
import numpy as np
import pytest
import yaml

from vauflow.annotation import COLUMNS, answer_letter
from vauflow.plan import validate_config
from vauflow.synth import ball, vau
from vauflow.vaubench.build import build

from conftest import REPO


def defaults():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    return validate_config(cfg)


def decode(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@pytest.fixture(scope="module")
def ball_set(tmp_path_factory):
    cfg = copy.deepcopy(defaults()["synthetic"]["ball"]) | {"n_train": 24, "n_val": 12}
    d = tmp_path_factory.mktemp("ball")
    m = ball.generate(cfg, 7, d / "videos", d / "ann")
    return d, cfg, m


def test_ball_balanced_and_formats(ball_set):
    d, cfg, m = ball_set
    assert m["counts"]["train"] == {c: 6 for c in ball.CLASSES} and m["counts"]["val"] == {c: 3 for c in ball.CLASSES}
    llava = json.loads((d / "ann" / "train.json").read_text())
    assert len(llava) == 24 and llava[0]["conversations"][0]["value"].startswith("<video>\nIn which direction")
    rows = [json.loads(x) for x in (d / "ann" / "train" / "ball.jsonl").read_text().splitlines()]
    assert all(
        r["cot"].startswith("<think>") and r["cot"].endswith(f"<answer>{r['answer_text']}</answer>") for r in rows
    )


def test_ball_visible_in_every_frame_and_moves_as_labelled(ball_set):
    d, cfg, _ = ball_set
    rows = [json.loads(x) for s in ("train", "val") for x in (d / "ann" / s / "ball.jsonl").read_text().splitlines()]
    for r in rows:
        frames = decode(d / "videos" / r["video"]).astype(int)
        bg = np.array(r["params"]["background"])
        mask = np.abs(frames - bg).max(-1) > 50
        area = mask.sum((1, 2))
        assert frames.shape[0] == cfg["n_frames"] and (area >= 0.5 * np.pi * cfg["radius"][0] ** 2).all(), r["video"]
        ys, xs = [], []
        for m in mask:
            y, x = np.nonzero(m)
            ys.append(y.mean())
            xs.append(x.mean())
        dx, dy = xs[-1] - xs[0], ys[-1] - ys[0]
        expect = {"left_to_right": dx > 5, "right_to_left": dx < -5, "falling": dy > 5, "ascending": dy < -5}
        assert expect[r["label"]], (r["video"], r["label"], dx, dy)


def test_ball_augmentations_and_determinism(tmp_path):
    cfg = copy.deepcopy(defaults()["synthetic"]["ball"]) | {
        "n_train": 4,
        "n_val": 4,
        "augment": {"blur": 1.0, "crop": 1.0},
    }
    a = ball.generate(cfg, 3, tmp_path / "a" / "v", tmp_path / "a" / "ann")
    b = ball.generate(cfg, 3, tmp_path / "b" / "v", tmp_path / "b" / "ann")
    assert a["files"] == b["files"]  # byte-identical videos from the same seed
    rows = [json.loads(x) for x in (tmp_path / "a" / "ann" / "train" / "ball.jsonl").read_text().splitlines()]
    assert all({"blur", "crop"} <= set(r["params"]["augment"]) for r in rows)
    c = ball.generate(cfg | {"augment": {"blur": 0.0, "crop": 0.0}}, 4, tmp_path / "c" / "v", tmp_path / "c" / "ann")
    assert c["files"] != a["files"]


@pytest.fixture(scope="module")
def vau_set(tmp_path_factory):
    full = defaults()
    cfg = copy.deepcopy(full["synthetic"]["vau"])
    cfg["per_source"] = {"train": 12, "val": 4, "test": 16}
    cfg["quirks"] = {
        "full_text_option": 0.2,
        "minus_one_qa": 0.3,
        "unannotated_interval": 0.2,
        "normal_nonzero_interval": 1.0,
    }
    d = tmp_path_factory.mktemp("vau")
    m = vau.generate(cfg, 5, full["vaubench"]["sources"], d / "videos", d / "ann")
    return d, cfg, m, full["vaubench"]["sources"]


def test_vau_exact_csv_format(vau_set):
    d, cfg, m, sources = vau_set
    assert sorted(p.name for p in (d / "ann").glob("*.csv")) == [
        "test_ecva.csv",
        "test_msad.csv",
        "test_ucf_crime.csv",
        "train.csv",
        "val.csv",
    ]
    for p in (d / "ann").glob("*.csv"):
        with open(p, newline="", encoding="utf-8") as f:
            r = csv.reader(f)
            assert next(r) == COLUMNS
            rows = list(r)
        assert all(len(x) == 13 for x in rows)
        prefixed = [x[0].split("_")[0] + "_" in ("msad_", "ucf_", "ecva_") for x in rows]
        assert all(prefixed) if p.stem in ("train", "val") else not any(prefixed)


def test_vau_no_label_in_names_questions_or_positions(vau_set):
    d, cfg, m, _ = vau_set
    classes = [c.lower() for c in cfg["classes"]] + ["normal"]
    for p in (d / "ann").glob("*.csv"):
        rows = list(csv.DictReader(open(p, encoding="utf-8")))
        assert not any(c in r["Video Name"].lower() for r in rows for c in classes)
        # answer letters: uniform in distribution (test_vau_qa_option_texts_do_not_give_the_answer_away)
        assert {answer_letter(r["Correct Option"]) for r in rows if r["Question"] != "-1"} <= set("ABCD")
    # the question wording is drawn independently of the class: every class sees several templates
    train = list(csv.DictReader(open(d / "ann" / "train.csv", encoding="utf-8")))
    per_class = collections.defaultdict(set)
    for r in train:
        per_class[r["Anomaly Class"]].add(r["Question"])
    assert all(len(q) >= 2 for c, q in per_class.items() if sum(x["Anomaly Class"] == c for x in train) >= 6)


def test_vau_event_visible_exactly_inside_interval(vau_set):
    d, cfg, m, _ = vau_set
    anomalous = [c for c in m["clips"] if c["class"] != "Normal"][:24]
    assert anomalous
    for c in anomalous:
        frames = decode(d / "videos" / c["dataset"] / c["video"]).astype(int)
        colour = np.array(vau.EVENTS[c["class"]][2])
        hits = (np.abs(frames - colour).max(-1) < 60).sum((1, 2))
        t = np.arange(len(frames)) / c["fps"]
        s, e = c["interval"]
        inside = (t >= s) & (t <= e)
        assert (hits[inside] >= 8).all(), (c["video"], c["class"], hits[inside])
        assert (hits[~inside] <= 2).all(), (c["video"], c["class"], hits[~inside])


def test_vau_quirks_and_ucf_intervals(vau_set, tmp_path):
    d, cfg, m, sources = vau_set
    quirks = collections.Counter(c["quirk"] for c in m["clips"])
    for q in ("full_text_option", "minus_one_qa", "unannotated_interval", "normal_nonzero_interval", "ucf_unannotated"):
        assert quirks[q] > 0, quirks
    ucf_train = [
        c
        for c in m["clips"]
        if c["source"] == "ucf_crime" and c["split"] in ("train", "val") and c["class"] != "Normal"
    ]
    s = build(d / "ann", tmp_path / "b", sources=sources)
    assert s["train"]["excluded"]["tag"]["unannotated_interval"] == sum(c["split"] == "train" for c in ucf_train)
    assert s["test_ucf_crime"]["excluded"]["qa"]["qa_unlabelled"] == quirks["minus_one_qa"]
    assert s["test_ucf_crime"]["usable"]["tag_scored"] > 0  # UCF-like test intervals are annotated (OOD TAG test)
    reasoning = [json.loads(x) for x in (tmp_path / "b" / "test_ecva" / "reasoning.jsonl").read_text().splitlines()]
    assert {r["reasoning_format"] for r in reasoning} == {"dict"}


def test_vau_deterministic(tmp_path):
    full = defaults()
    cfg = copy.deepcopy(full["synthetic"]["vau"]) | {"per_source": {"train": 2, "val": 1, "test": 2}}
    a = vau.generate(cfg, 9, full["vaubench"]["sources"], tmp_path / "a", tmp_path / "a_ann")
    b = vau.generate(cfg, 9, full["vaubench"]["sources"], tmp_path / "b", tmp_path / "b_ann")
    assert a["files"] == b["files"] and a["clips"] == b["clips"]
    for name in ("train.csv", "test_ecva.csv"):
        assert (tmp_path / "a_ann" / name).read_bytes() == (tmp_path / "b_ann" / name).read_bytes()


def test_event_scale_draws_larger_events_in_the_same_place():
    look = vau.LOOKS[0]
    sizes = {}
    for scale in (1, 3):
        rng_ev, rng_none = np.random.default_rng(5), np.random.default_rng(5)
        with_event, _ = vau.render_clip(look, 64, 8, 4, "Stealing", (0.0, 2.0), rng_ev, event_scale=scale)
        without, _ = vau.render_clip(look, 64, 8, 4, None, (0.0, 2.0), rng_none, event_scale=scale)
        changed = np.abs(with_event.astype(int) - without.astype(int)).sum(-1) > 0
        sizes[scale] = int(changed[0].sum())
    assert sizes[1] > 0 and sizes[3] > 4 * sizes[1]


def text_only_hit_rates(anomaly_fraction, n=2800, seed=0):
    """For each option text: how often it is the answer among the questions that show it."""
    rng = np.random.default_rng(seed)
    classes = defaults()["synthetic"]["vau"]["classes"]
    shown, right = collections.Counter(), collections.Counter()
    letters = collections.Counter()
    for cls in vau._split_labels(classes, n, anomaly_fraction):
        row = vau._csv_row(cls, vau.LOOKS[0], (1.0, 2.0), "centre", classes, rng, "train")
        for k in "1234":
            shown[row[f"Option {k}"]] += 1
        right[row[f"Option {'ABCD'.index(row['Correct Option']) + 1}"]] += 1
        letters[row["Correct Option"]] += 1
    return {text: right[text] / shown[text] for text in shown}, {k: v / n for k, v in letters.items()}


def test_vau_qa_option_texts_do_not_give_the_answer_away():
    # by default every option text is the answer about 1 time in 4 where it is shown: a model that reads only the
    # question cannot beat chance; with half the clips normal, "Nothing unusual" would be the answer most times
    rates, letters = text_only_hit_rates(None)
    assert len(rates) == len(defaults()["synthetic"]["vau"]["classes"]) + 1
    assert all(abs(r - 0.25) < 0.04 for r in rates.values()), rates
    assert sorted(letters) == list("ABCD") and all(abs(r - 0.25) < 0.03 for r in letters.values()), letters
    leaky, _ = text_only_hit_rates(0.5)
    assert leaky[vau.NORMAL_SENTENCE] > 0.6
