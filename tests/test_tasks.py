"""A new task is one module plus config: a toy task through SFT → GRPO → evaluation → tables on the smoke config."""

import json
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO, SMOKE, VENV_BIN, run

PACKAGE = REPO / "vauflow"


TOY_TASK = '''"""Toy task (tests/test_tasks.py): is the clip's event normal or an anomaly?"""

from vauflow.annotation import canonical_class
from vauflow.parse import ANSWER_ONLY, THINK_ANSWER, first_answer, text_of, well_formed
from vauflow.stats import majority_baseline, responses_by_video, video_key
from vauflow.tasks.task import LearningCheck, Table, Task, annotation_rationale, chat, format_rewards, with_rationale

QUESTION = "Is the event in the video normal or an anomaly? Answer <answer>Normal</answer> or <answer>Anomaly</answer>."


def from_csv(row, base):
    cls = canonical_class(row["Anomaly Class"])
    return base | {"label": "Normal" if cls == "Normal" else "Anomaly"} if cls else "unknown_class"


def target(row, target):
    return with_rationale(row, f"<answer>{row['label']}</answer>", target)


def format_ok(text, target):
    return well_formed(text, ANSWER_ONLY, ["answer"]) if target == "answer" else well_formed(
        text, THINK_ANSWER, ["think", "answer"])


def format_reward(completions, target=None, **_):
    return format_rewards(completions, target, format_ok)


def answer_reward(completions, label, **_):
    return [float((first_answer(text_of(c)) or "").strip() == gt) for c, gt in zip(completions, label)]


def correct(row, text):
    return float((first_answer(text) or "").strip() == row["label"])


def score_cell(gt_rows, pred_rows, settings):
    preds = responses_by_video(pred_rows)
    hits = int(sum(correct(g, preds.get(video_key(g["video_name"]), "")) for g in gt_rows))
    return {"accuracy": 100 * hits / len(gt_rows) if gt_rows else 0.0, "n": len(gt_rows), "correct": hits}


def baseline(train_rows, test_rows):
    value, top = majority_baseline("label", train_rows, test_rows)
    return f"always {top} (train majority)", value, len(test_rows), top


TASK = Task(
    name="normal", doc=__doc__, source="vau", eval_split="test", budget="infer_tag",
    csv_columns=("Video Name", "Normal answer"), from_csv=from_csv,
    row_fields={"label": {"enum": ["Normal", "Anomaly"]}},
    prompt=lambda row, target: QUESTION, target=target, rationale=annotation_rationale,
    inference=lambda row, think: (chat(QUESTION, video_first=True), False), rewards=(format_reward, answer_reward),
    row_score=correct, baseline=baseline, score_cell=score_cell,
    table=Table("normal", "Toy: normal or anomaly (%)", "normal acc", ("accuracy",)),
    learning=LearningCheck(("none", "blank"), max_new_tokens=8, think_tokens=32, chance=0.5),
)
'''
TOY_CONFIG = {"sft": {"tasks": ["normal"]}, "grpo": {"runs": ["normal"]}, "eval": {"think": [False]}}


@pytest.mark.workflow
@pytest.mark.timeout(900)
def test_a_new_task_is_one_module_plus_config(tmp_path):
    """README's recipe: a copy of the checkout with vauflow/tasks/normal.py and an overlay naming it in sft.tasks
    and grpo.runs. The workflow builds its rows from the CSVs, trains it (its rewards in the GRPO log), evaluates
    every model of its table on every test split (predictions in the upstream CSV layout with its columns) and
    renders its table with a baseline; the learning check runs it; `vauflow eval` and `--tasks` accept it."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    copy = tmp_path / "checkout"
    for f in files:
        if (REPO / f).is_file():
            (copy / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, copy / f)
    (copy / "vauflow/tasks/normal.py").write_text(TOY_TASK)
    (copy / "toy.yaml").write_text(yaml.safe_dump(TOY_CONFIG))
    env = {"PYTHONPATH": str(copy)}
    run(
        ["snakemake", "--cores", "2", "--configfile", "config.yaml", str(SMOKE), "toy.yaml"],
        cwd=copy,
        env_extra=env,
        timeout=840,
    )
    built = json.loads((copy / "results/vaubench/built/summary.json").read_text())
    assert all(v["usable"]["normal"] > 0 for v in built.values())
    log = [json.loads(x) for x in (copy / "results/grpo/normal/log.jsonl").read_text().splitlines()]
    assert {"rewards/normal/format_reward", "rewards/normal/answer_reward"} <= set(log[0])
    tables = json.loads((copy / "results/tables/tables.json").read_text())
    splits = ("test_msad", "test_ecva", "test_ucf_crime")
    for split in splits:
        cell = tables["normal"][split]["+ RFT"]["w/o think"]
        assert cell["n"] > 0 and 0 <= cell["accuracy"] <= 100
        header = (copy / f"results/eval/rft-normal/predictions/normal_{split}_nothink.csv").read_text().splitlines()[0]
        assert header == "Video Name,Normal answer"
    assert set(tables["normal"]["baselines"]) == set(splits)
    assert "## Toy: normal or anomaly (%)" in (copy / "results/tables/tables.md").read_text()
    learning = json.loads((copy / "results/learning/summary.json").read_text())
    assert set(learning["runs"]["normal"]["tasks"]["normal"]["stages"]["grpo"]) == {"none", "blank"}
    assert "normal" in run([str(VENV_BIN / "vauflow"), "sft", "--help"], cwd=copy, env_extra=env).stdout
    assert "normal" not in run([str(VENV_BIN / "vauflow"), "sft", "--help"], cwd=copy).stdout  # this checkout's
