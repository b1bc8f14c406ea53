"""Evaluation helpers used to measure learning: scores, baselines, significance, and frame transforms."""

import dataclasses

import numpy as np
import pytest

from vauflow import tasks
from vauflow.evaluate.learning import row_scores
from vauflow.evaluate.predict import predict, transform_clip
from vauflow.examples import load_rows
from vauflow.stats import binomial_p_above, majority_baseline
from vauflow.tasks.tag import best_constant_interval

from conftest import smoke_config


def test_scores_and_baselines():
    rows = [{"answer": "A"}, {"answer": "B"}, {"answer": "A"}]
    assert row_scores(tasks.get("qa"), rows, ["<answer>A</answer>", "<answer>A</answer>", "so, C"]) == [1, 0, 0]
    assert majority_baseline("answer", rows, rows) == (pytest.approx(2 / 3), "A")
    assert tasks.get("qa").baseline(rows, rows) == ("always A (train majority)", pytest.approx(2 / 3), 3, "A")
    tag = [{"gt": [2.0, 4.0], "scored": True}, {"gt": [-1.0, -1.0], "scored": False}]
    assert row_scores(tasks.get("tag"), tag, ["<glue>[2.0, 4.0]</glue>", "<glue>[0, 9]</glue>"]) == [1.0]
    assert best_constant_interval(tag, tag) == (1.0, (2.0, 4.0))
    assert tasks.get("tag").baseline(tag, tag) == ("always [2.0, 4.0] (best on train)", 1.0, 1, [2.0, 4.0])
    assert binomial_p_above(0, 10, 0.3) == pytest.approx(1.0)
    assert binomial_p_above(10, 10, 0.5) == pytest.approx(0.5**10)


def test_frame_transforms_keep_length_and_timing():
    clip = dataclasses.make_dataclass("C", ["frames", "indices"])(
        np.arange(4 * 2 * 2 * 3, dtype=np.uint8).reshape(4, 2, 2, 3) + 1, [0, 1, 2, 3]
    )
    assert transform_clip(clip, "none", 0) is clip
    blank = transform_clip(clip, "blank", 0)
    assert blank.frames.shape == clip.frames.shape and not blank.frames.any() and blank.indices == clip.indices
    shuffled = transform_clip(clip, "shuffle", 1)
    assert sorted(map(bytes, shuffled.frames)) == sorted(map(bytes, clip.frames))
    with pytest.raises(ValueError):
        transform_clip(clip, "mirror", 0)


def test_batched_predictions_equal_one_by_one(smoke_models):
    rows, _ = load_rows("cls", smoke_models / "results/vaubench/linked", "test_msad")
    rows = rows[:3]
    model = smoke_models / "resources/models/tiny"
    budget = smoke_config()["frames"]["budgets"]["train"]
    batched = predict(model, rows, budget, batch_size=3, max_new_tokens=4)
    single = [predict(model, [r], budget, batch_size=1, max_new_tokens=4)[0] for r in rows]
    assert len(batched) == 3 and batched == single


def test_learning_check_statistics_and_verdict():
    from vauflow.evaluate import learning

    lo, hi = learning.wilson(45, 100)
    assert lo == pytest.approx(0.3561, abs=1e-3) and hi == pytest.approx(0.5475, abs=1e-3)  # textbook values
    assert learning.bootstrap_mean([1.0] * 5, seed=0) == [1.0, 1.0]
    a, b = learning.bootstrap_mean([0, 1] * 50, seed=3)
    assert a < 0.5 < b and learning.bootstrap_mean([0, 1] * 50, seed=3) == [a, b]  # seeded
    base = {"value": 0.25}
    above = learning.summarise("qa", [1.0] * 30 + [0.0] * 34, base, 0)
    chance = learning.summarise("qa", [1.0] * 16 + [0.0] * 48, base, 0)
    assert above["above_baseline"] and above["p_vs_baseline"] < 0.01 and not chance["above_baseline"]
    tag = learning.summarise("tag", [0.6] * 60 + [0.3] * 4, {"value": 0.33}, 0)
    assert tag["above_baseline"] and "p_vs_baseline" not in tag
    report = {
        "qa": {
            "stages": {"sft": {"none": above, "blank": chance}, "grpo": {"none": above, "blank": above}},
            "grpo_minus_sft": {"mean": -0.2, "ci95": [-0.3, -0.1]},
        }
    }
    v = learning.verdict(report)
    assert v == {
        "qa: reads the video (held-out score above baseline)": True,
        "qa: blanked frames fall back to baseline (sft)": True,
        "qa: blanked frames fall back to baseline (grpo)": False,
        "qa: GRPO lowers no held-out score beyond noise": False,
    }
    # w/ think (a run trained to think): the same criteria on the "think/" modes
    report["qa"]["stages"]["grpo"] |= {"think/none": chance, "think/blank": chance}
    v = learning.verdict(report)
    assert not v["qa: reads the video w/ think (held-out score above baseline)"]
    assert v["qa: blanked frames fall back to baseline w/ think (grpo)"]
    # margins (issue 20): the largest p of a criterion that holds, mIoU's from its interval (normal approximation)
    assert learning.interval_p({"score": 0.5, "ci95": [0.45, 0.55]}, 0.347) < 1e-8  # z = 6.0
    assert 0.3 < learning.interval_p({"score": 0.36, "ci95": [0.30, 0.42]}, 0.347) < 0.4  # z = 0.42
    summary = {"runs": {"qa": {"tasks": {"qa": report["qa"] | {"baseline": base}}}}}
    assert learning.margins(summary).startswith(
        f"Margins: largest p of a score above its baseline {above['p_vs_baseline']:.2g}"
    )


def test_the_model_matrix_follows_the_config():
    """Which model feeds which table: the paper preset's rows, zero-shot baselines included, and the cells each
    model is evaluated on (the reasoning only for Table A's models); a zero-shot name must be a known model."""
    from vauflow.config import ConfigError
    from vauflow.plan import eval_model_folder, eval_models, judged_models, table_rows, validate_config

    from conftest import REPO, load_merged

    cfg = load_merged(REPO / "presets/paper.yaml")
    # Qwen2-VL-2B is trained too (model.other_bases), for QA only: its rows lead Table A and nowhere else
    assert [m for m, _ in table_rows(cfg, "qa")] == [
        "zs-qwen2.5-vl-7b",
        "zs-qwen2-vl-2b",
        "sft-qa@qwen2-vl-2b",
        "rft-qa@qwen2-vl-2b",
        "base",
        "sft-qa",
        "rft-qa",
    ]
    assert [m for m, _ in table_rows(cfg, "tag")] == [
        "zs-qwen2.5-vl-7b",
        "zs-qwen2-vl-2b",
        "base",
        "sft-tag",
        "rft-tag",
    ]
    assert eval_model_folder(cfg, "rft-qa@qwen2-vl-2b") == "results/grpo/qa@qwen2-vl-2b"
    assert [m for m, _ in table_rows(cfg, "cls")] == [
        "zs-qwen2.5-vl-7b",
        "zs-qwen2-vl-2b",
        "base",
        "sft-cls",
        "rft-cls",
        "rft-qa",
        "rft-tag",
        "rft-qa-tag",
        "rft-qa-tag-cls",
    ]
    assert [m for m, _ in table_rows(cfg, "ball")] == ["base", "sft-ball", "rft-ball"]
    assert eval_model_folder(cfg, "zs-qwen2-vl-2b") == "resources/models/qwen2-vl-2b"
    assert eval_model_folder(cfg, "rft-qa-tag") == "results/grpo/qa-tag"
    cells = eval_models(cfg)
    assert judged_models(cfg) == [m for m, _ in table_rows(cfg, "qa")]
    for model, todo in cells.items():
        reasoning = [c for c in todo if c[0] == "reasoning"]
        assert (len(reasoning) == 3) == (model in judged_models(cfg)), model
        assert all(think is False for _, _, think in reasoning)
    assert len([c for c in cells["base"] if c[0] == "qa"]) == 6  # 3 test splits x think / no think
    bad = load_merged(REPO / "config.yaml")
    bad["eval"]["zero_shot"] = ["gpt-9"]
    with pytest.raises(ConfigError, match="'eval/zero_shot': 'gpt-9' is not in 'models'"):
        validate_config(bad)


def test_cells_show_n_and_what_was_lost():
    """Each cell shows its n and, where rows were lost before inference, how many and why; QA shows upstream's valid
    rows when some replies held no letter."""
    from vauflow.evaluate.tables import acc_cell, losses, tables_csv, tables_tex

    summary = {
        "test_ucf_crime": {
            "qa": {"rows": 251, "linked": 212, "excluded": {"video_missing": 28, "video_quarantined": 11}},
            "tag": {"rows": 124, "linked": 124, "excluded": {}},
        }
    }
    lost = losses(summary, "test_ucf_crime", "qa")
    assert lost == {"video_missing": 28, "video_quarantined": 11} and losses(summary, "test_ucf_crime", "tag") == {}
    cell = acc_cell(50.0, 212, valid=200, lost=lost)
    assert cell.endswith("(n=212, valid=200; lost 28 video missing, 11 video quarantined)"), cell
    assert acc_cell(50.0, 212).endswith("(n=212)")
    flat = [
        ("A", "test_ucf_crime", "+ SFT", "w/o think", "accuracy", 50.0, 212),
        ("C", "pooled", "base", "w/ think", "multi_acc", None, 0),
    ]
    assert tables_csv(flat).splitlines() == [
        "table,split,model,mode,metric,value,n",
        "A,test_ucf_crime,+ SFT,w/o think,accuracy,50.0000,212",
        "C,pooled,base,w/ think,multi_acc,,0",
    ]
    tex = tables_tex(flat)
    assert r"test\_ucf\_crime & + SFT & w/o think & accuracy & 50.00 & 212 \\" in tex and tex.count(r"\toprule") == 2


def test_a_task_trained_alone_is_checked_against_the_untrained_base():
    """verdict_alone (the reasoning): Total intervals apart from the base's, the class named above the majority,
    blanked frames back at the baseline and lowering the Total; each criterion fails when its numbers say so."""
    from vauflow.evaluate import learning

    def stage(total_ci, above):
        return {"total_ci95": total_ci, "above_baseline": above}

    entry = {
        "stages": {
            "base": {"none": stage([0.8, 1.6], False)},
            "sft": {"none": stage([27.0, 30.0], True), "blank": stage([12.0, 15.0], False)},
        },
        "blank_minus_none": {"mean": -15.0, "ci95": [-16.0, -14.0]},
    }
    assert all(learning.verdict_alone("reasoning", entry).values())
    entry["stages"]["base"]["none"] = stage([20.0, 28.0], False)  # intervals overlap
    entry["stages"]["sft"]["blank"] = stage([12.0, 15.0], True)  # blanked still names the class
    entry["blank_minus_none"]["ci95"] = [-3.0, 0.5]  # blanked no lower
    v = learning.verdict_alone("reasoning", entry)
    assert [k for k, ok in v.items() if ok] == ["reasoning: names the class above the majority baseline"]


def test_learning_check_parts_pair_each_run_with_its_sft_start():
    """merge() of the parts (each model checked once) gives every GRPO run its SFT start's scores, the think modes
    only where the run thinks, the paired GRPO - SFT from the per-row scores; a run from its base has no SFT stage;
    a missing part is a one-line error."""
    from vauflow.evaluate import learning
    from vauflow.io import UsageError
    from vauflow.plan import learning_parts

    def checked(score, think):
        modes = {"none": {"n": 4, "score": score, "ci95": [0, 1], "above_baseline": score > 0.5}}
        modes |= {"think/none": {"n": 4, "score": score, "ci95": [0, 1], "above_baseline": True}} if think else {}
        return {"qa": {"baseline": {"value": 0.25}, "modes": modes, "scores": [score] * 4}}

    runs = {
        "a": {"tasks": ["qa"], "sft": "mix", "think": True},
        "b": {"tasks": ["qa"], "sft": "mix", "think": False},
        "c": {"tasks": ["qa"], "sft": None, "think": False},
    }
    assert learning_parts(runs, {}) == ["sft-mix", "grpo-a", "grpo-b", "grpo-c"]
    parts = [{"sft": {"mix": checked(0.5, True)}, "sft_alone": {}}]
    parts += [{"grpo": {r: {"check": checked(0.75, True), "reward": None}}} for r in runs]
    out = learning.merge(runs, {}, parts)
    a, b, c = (out["runs"][r]["tasks"]["qa"] for r in "abc")
    assert list(a["stages"]) == ["sft", "grpo"] and "think/none" in a["stages"]["sft"]
    assert "think/none" not in b["stages"]["sft"] and "think/none" not in b["stages"]["grpo"]
    assert a["grpo_minus_sft"]["mean"] == 0.25 and "grpo_minus_sft" not in c and list(c["stages"]) == ["grpo"]
    with pytest.raises(UsageError, match="no part holds 'mix'"):
        learning.merge(runs, {}, parts[1:])
