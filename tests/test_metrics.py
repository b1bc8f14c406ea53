"""The paper's metrics (spec §8) through the CLI contract `vauflow eval metrics`: hand-built cases, then the real
VAU-Bench test CSVs with synthetic predictions (exact denominators and known rates)."""

import json

import pytest

from vauflow.tasks.cls import metrics as cls_metrics
from vauflow.tasks.qa import metrics as qa_metrics
from vauflow.tasks.tag import metrics as tag_metrics

from conftest import vauflow


def metrics_cli(tmp_path, task, gt, preds, scoring="upstream"):
    (tmp_path / "gt.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gt))
    (tmp_path / "pred.jsonl").write_text("".join(json.dumps(r) + "\n" for r in preds))
    p = vauflow(
        "eval",
        "metrics",
        "--task",
        task,
        "--pred",
        tmp_path / "pred.jsonl",
        "--gt",
        tmp_path / "gt.jsonl",
        "--scoring",
        scoring,
    )
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_qa_parsing_order_denominator_and_valid(tmp_path):
    """Upstream (evaluate_qa.py @ 3356ef3 on inference_qa_qwen.py's cleaned letter): the four cleaning steps, all
    case-insensitive; accuracy over the rows with a non-empty cleaned answer; the raw Correct Option compared as it is.
    Strict: our parser, over all rows."""
    gt = [{"video_name": f"v{i}.mp4", "answer": a, "correct_option": a} for i, a in enumerate("ABCDAB")]
    gt.append({"video_name": "v6.mp4", "answer": "D", "correct_option": "D. Green trash bin"})  # full-text GT
    preds = [
        {"video": "v0.mp4", "response": "<think>B or C?</think><answer> a </answer>"},  # <answer> first (any case)
        {"video": "v1", "response": "I pick <b/>"},  # tag-like letter, any case; ".mp4" implied
        {"video": "v2.mp4", "response": "<think>A is wrong, D too</think> so C"},  # last letter after </think>
        {"video": "v3.mp4", "response": "A? no: D"},  # last standalone letter anywhere
        {"video": "v3.mp4", "response": "<answer>A</answer>"},  # duplicate: the first prediction counts
        {"video": "v4.mp4", "response": "no idea"},  # unparseable: not valid upstream, wrong in strict
        {"video": "v6.mp4", "response": "<answer>D</answer>"},  # never equals a full-text Correct Option upstream
    ]  # v5 has no prediction
    out = metrics_cli(tmp_path, "qa", gt, preds)
    assert set(out) == {"accuracy", "accuracy_all", "n", "valid", "correct"}
    assert out == {
        "accuracy": pytest.approx(400 / 5),
        "accuracy_all": pytest.approx(400 / 7),
        "n": 7,
        "valid": 5,
        "correct": 4,
    }
    strict = metrics_cli(tmp_path, "qa", gt, preds, "strict")  # case-sensitive steps: "<b/>" is no letter
    assert set(strict) == set(out)
    assert strict == {
        "accuracy": pytest.approx(400 / 7),
        "accuracy_all": pytest.approx(400 / 7),
        "n": 7,
        "valid": 4,
        "correct": 4,
    }
    from vauflow.tasks.cls import class_upstream as cls_class_upstream
    from vauflow.tasks.qa import clean_model_answer

    # evaluation_cls.py passes over a match that is no class once normalised, and takes the next one
    assert cls_class_upstream("TrafficAccident, no: Fighting") == "Fighting"
    assert cls_class_upstream("FoodSafety or Fire") == "Fire" and cls_class_upstream("Food  safety") == "Food Safety"
    assert clean_model_answer("This is a cat") == "A"  # upstream reads a lone article as A
    assert clean_model_answer("<think>x</think>") == ""


def test_tag_formats_exclusions_and_recall(tmp_path):
    gt = [
        {"video_name": "a.mp4", "gt": [2.0, 4.0], "scored": True},
        {"video_name": "b.mp4", "gt": [60.0, 90.0], "scored": True},
        {"video_name": "c.mp4", "gt": [1.0, 3.0], "scored": True},
        {"video_name": "d.mp4", "gt": [5.0, 5.0], "scored": True},
        {"video_name": "e.mp4", "gt": [-1.0, -1.0], "scored": False},  # normal / unannotated: excluded
        {"video_name": "f.mp4", "gt": [0.0, 0.0], "scored": False},
    ]
    preds = [
        {"video": "a.mp4", "response": "<think>x</think><glue>[2.0, 3.0]</glue>"},  # IoU 0.5
        {"video": "b.mp4", "response": "from [01:00, 01:30]"},  # MM:SS, first [...]: IoU 1
        {"video": "c.mp4", "response": "<glue>[2.0, 2.0]</glue>"},  # start == end: 0
        {"video": "e.mp4", "response": "<glue>[0, 9]</glue>"},
    ]  # d missing
    # upstream (evaluation_tag.py): a row without a prediction leaves the denominator
    out = metrics_cli(tmp_path, "tag", gt, preds)
    assert set(out) == {"miou", "r@0.3", "r@0.5", "r@0.7", "n"}
    assert out == {
        "miou": pytest.approx(50.0),
        "r@0.3": pytest.approx(200 / 3),
        "r@0.5": pytest.approx(200 / 3),
        "r@0.7": pytest.approx(100 / 3),
        "n": 3,
    }
    # strict: it scores 0
    strict = metrics_cli(tmp_path, "tag", gt, preds, "strict")
    assert strict == {"miou": pytest.approx(37.5), "r@0.3": 50.0, "r@0.5": 50.0, "r@0.7": 25.0, "n": 4}
    # upstream reads <glue> on one line only (no DOTALL); a think bracket before it is then its first [...]
    multi = [{"video": "a.mp4", "response": "<think>between [2s and 4s]</think><glue>\n[2.0, 4.0]\n</glue>"}]
    assert metrics_cli(tmp_path, "tag", gt[:1], multi)["miou"] == 0.0
    assert metrics_cli(tmp_path, "tag", gt[:1], multi, "strict")["miou"] == 100.0


def test_cls_first_class_binary_and_multi(tmp_path):
    gt = [
        {"video_name": "a.mp4", "class": "Fighting"},
        {"video_name": "b.mp4", "class": "Normal"},
        {"video_name": "c.mp4", "class": "Robbery"},
        {"video_name": "d.mp4", "class": "Explosion"},
        {"video_name": "e.mp4", "class": "Traffic_accident"},
        {"video_name": "f.mp4", "class": "-1", "labelled": False},  # upstream: an anomaly no class matches
        {"video_name": "g.mp4", "class": "Fire"},
    ]
    preds = [
        {"video": "a.mp4", "response": "<answer>fighting, then robbery</answer>"},  # first found, any case
        {"video": "b.mp4", "response": "Normal"},  # no tag: the whole text
        {"video": "c.mp4", "response": "<answer>Stealing</answer> Robbery"},  # binary right, multi wrong
        {"video": "d.mp4", "response": "<answer>something odd</answer>"},  # nothing found: wrong on both
        {"video": "e.mp4", "response": "<answer>traffic accident</answer>"},  # "_" = space
        {"video": "f.mp4", "response": "<answer>Fire"},  # binary right (an anomaly), multi wrong
        {"video": "g.mp4", "response": "<think>no Fighting</think><answer>Fire and smoke"},
    ]  # unclosed
    out = metrics_cli(tmp_path, "cls", gt, preds)
    assert set(out) == {"binary_acc", "multi_acc", "n"}
    assert out == {"binary_acc": pytest.approx(600 / 7), "multi_acc": pytest.approx(400 / 7), "n": 7}
    # our parser: an unclosed <answer> is no answer, so the whole reply is read (and "Fighting" comes first)
    strict = metrics_cli(tmp_path, "cls", gt, preds, "strict")
    assert strict == {"binary_acc": pytest.approx(600 / 7), "multi_acc": pytest.approx(300 / 7), "n": 7}


def test_bad_inputs_one_line(tmp_path):
    (tmp_path / "gt.jsonl").write_text(json.dumps({"video_name": "a.mp4", "answer": "A"}) + "\n")
    (tmp_path / "bad_gt.jsonl").write_text(json.dumps({"video_name": "a.mp4"}) + "\n")
    (tmp_path / "pred.jsonl").write_text("{not json\n")
    for pred, gt, want in (
        (tmp_path / "nope.jsonl", tmp_path / "gt.jsonl", "no such file"),
        (tmp_path / "pred.jsonl", tmp_path / "bad_gt.jsonl", "missing answer"),
        (tmp_path / "pred.jsonl", tmp_path / "gt.jsonl", "not JSON"),
    ):
        p = vauflow("eval", "metrics", "--task", "qa", "--pred", pred, "--gt", gt, check=False)
        assert p.returncode == 2 and want in p.stderr and p.stderr.strip().count("\n") == 0, p.stderr


def rows(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_real_test_sets_with_fixed_predictors(real_built):
    """The paper's populations and the upstream quirks' effects on the real test CSVs, with fixed predictors (the
    docs/evaluation.md quotes these numbers)."""
    msad = rows(real_built / "test_msad/qa.jsonl")
    oracle = [{"video": r["video_name"], "response": f"<answer>{r['answer']}</answer>"} for r in msad]
    m = qa_metrics(msad, oracle)  # the 8 full-text Correct Options never equal a letter upstream
    assert (m["n"], m["valid"], m["correct"]) == (240, 240, 232) and m["accuracy"] == pytest.approx(100 * 232 / 240)
    assert qa_metrics(msad, oracle, scoring="strict")["accuracy"] == 100.0
    all_a = [{"video": r["video_name"], "response": "<answer>A</answer>"} for r in msad]
    assert qa_metrics(msad, all_a, scoring="strict")["accuracy"] == pytest.approx(100 * 164 / 240)
    ucf = rows(real_built / "test_ucf_crime/qa.jsonl")
    assert qa_metrics(ucf, [])["n"] == 251 and qa_metrics(ucf, [])["valid"] == 0
    # a reply without a letter drops out of upstream's denominator: half the rows unparsed, the rest right
    half = [
        {"video": r["video_name"], "response": "I cannot tell" if i % 2 else f"<answer>{r['answer']}</answer>"}
        for i, r in enumerate(ucf)
    ]
    m = qa_metrics(ucf, half)
    assert m["valid"] == 126 and m["accuracy"] == 100.0 and m["accuracy_all"] == pytest.approx(100 * 126 / 251)

    for split, n in (("test_msad", 120), ("test_ecva", 402), ("test_ucf_crime", 124)):
        tag = rows(real_built / f"{split}/tag.jsonl")
        exact = [{"video": r["video_name"], "response": f"<glue>[{r['gt'][0]}, {r['gt'][1]}]</glue>"} for r in tag]
        assert tag_metrics(tag, exact) == {"miou": 100.0, "r@0.3": 100.0, "r@0.5": 100.0, "r@0.7": 100.0, "n": n}
        none = [{"video": r["video_name"], "response": "<glue>[-1, -1]</glue>"} for r in tag]
        assert tag_metrics(tag, none)["miou"] == 0.0

    n = {"upstream": 0, "labelled": 0}
    for split in ("test_msad", "test_ucf_crime", "test_ecva"):  # video names repeat across splits: one at a time
        cls = rows(real_built / f"{split}/cls.jsonl")
        # the oracle names the class; on a "-1" row it names an anomaly ("Assault")
        oracle = [
            {"video": r["video_name"], "response": f"<answer>{r['class'] if r['labelled'] else 'Assault'}</answer>"}
            for r in cls
        ]
        for population in n:
            m = cls_metrics(cls, oracle, population=population)
            n[population] += m["n"]
            if population == "labelled" or split != "test_ucf_crime":
                assert m["binary_acc"] == m["multi_acc"] == 100.0
            else:  # the 39 "-1" rows: binary right for any non-Normal class, multi never
                assert m["binary_acc"] == 100.0 and m["multi_acc"] == pytest.approx(100 * 251 / 290)
    assert n == {"upstream": 932, "labelled": 929}  # the paper's N, and the rows with one of the 20 classes
    normal = [{"video": r["video_name"], "response": "Normal"} for r in rows(real_built / "test_msad/cls.jsonl")]
    m = cls_metrics(rows(real_built / "test_msad/cls.jsonl"), normal)
    share = sum(r["class"] == "Normal" for r in rows(real_built / "test_msad/cls.jsonl")) / 240
    assert m["binary_acc"] == pytest.approx(100 * share) and m["multi_acc"] == pytest.approx(100 * share)
