"""Evaluation cells: which model feeds which table, on which task, split and think mode; a row's model folder;
the files a table is scored from."""

from vauflow import tasks
from vauflow.plan.runs import active_datasets, grpo_init_run, grpo_runs, model_folder, run_base, run_tasks, sft_runs

LEARNING_CHECK_BATCH = 16  # clips per batch of the learning check's predictions (its job and its memory plan)


def test_splits(config):
    """The test splits of the sources whose dataset is in use."""
    on = active_datasets(config)
    return [s["test_split"] for s in config["vaubench"]["sources"].values() if s["dataset"] in on]


def eval_splits(config, task):
    """The splits a task is evaluated on: the VAU test splits in use, or the ball set's val split."""
    return test_splits(config) if tasks.get(task).eval_split == "test" else [tasks.get(task).eval_split]


def cell_name(task, split, think):
    """A cell's file name: <task>_<split>_<think|nothink>."""
    return f"{task}_{split}_{'think' if think else 'nothink'}"


def sft_for(config, run):
    """The SFT model a table row shows for a run: the one its GRPO run started from, else its own SFT run."""
    if run in grpo_runs(config) and grpo_init_run(config, run):
        return f"sft-{grpo_init_run(config, run)}"
    return f"sft-{run}" if run in sft_runs(config) else None


def table_rows(config, task):
    """[(model id, label)] of a task's table, for the models this config makes: the zero-shot baselines and the
    external models (VAU tables); each other base as it is, + SFT, + RFT (on the tasks it trains); the base, + SFT,
    + RFT; with `ablations` (Table C) the RFT runs of the other VAU tasks."""
    t = tasks.get(task)
    grpo = grpo_runs(config)
    others = [b for b, names in config["model"]["other_bases"].items() if task in names]
    rows = []
    if t.source == "vau":
        rows += [(f"zs-{m}", f"{m} (zero-shot)") for m in config["eval"]["zero_shot"] if m not in others]
        rows += [(f"ext-{m}", f"{m} (external)") for m in config["eval"]["extra_models"]]
    for other in others:
        run = f"{task}@{other}"
        rows += [
            (f"zs-{other}", f"{other}"),
            (sft_for(config, run), f"{other} + SFT"),
            (f"rft-{run}" if run in grpo else None, f"{other} + RFT"),
        ]
    rows += [("base", "base"), (sft_for(config, task), "+ SFT"), (f"rft-{task}" if task in grpo else None, "+ RFT")]
    if t.table.ablations:
        rows += [
            (f"rft-{r}", f"+ RFT w/ {r.upper()}")
            for r in config["grpo"]["runs"]
            if r != task and any(tasks.get(x).source == "vau" for x in run_tasks(config, r))
        ]
    return [(m, label) for m, label in rows if m is not None]


def eval_models(config):
    """{model id: [[task, split, think], ...]}: every cell some table needs from that model."""
    cells = {}
    for t in tasks.tabled():
        for model, _ in table_rows(config, t.name):
            for split in eval_splits(config, t.name):
                for think in config["eval"]["think"]:
                    if [t.name, split, think] not in cells.setdefault(model, []):
                        cells[model].append([t.name, split, think])
                if t.table.vau_eval and config["eval"]["reasoning"]:  # the VAU-Eval columns: one mode, two turns
                    cells[model].append(["reasoning", split, False])
    return cells


def judged_models(config):
    """Models whose reasoning outputs VAU-Eval scores (the rows of the table that shows its columns)."""
    if not config["eval"]["reasoning"]:
        return []
    return [m for t in tasks.tabled() if t.table.vau_eval for m, _ in table_rows(config, t.name)]


def evaluated_as_is(model):
    """Whether an evaluation row's model id names a `models` entry used as it is (the base, a zero-shot baseline,
    an external model) rather than a trained run ("sft-<run>", "rft-<run>")."""
    return model == "base" or model.startswith(("zs-", "ext-"))


def eval_base(config, model):
    """The base model (a `models` name) of an evaluation row's model: the base, a zero-shot or external model as it
    is, or the base a trained run started from."""
    if model == "base":
        return config["model"]["base"]
    if evaluated_as_is(model):
        return model.split("-", 1)[1]
    return run_base(config, model.split("-", 1)[1])


def eval_model_folder(config, model):
    """An evaluation row's model folder: a trained run's output (results/sft|grpo/<run>), or a models entry's."""
    if evaluated_as_is(model):
        return model_folder(config, eval_base(config, model))
    kind, run = model.split("-", 1)
    return f"results/{'sft' if kind == 'sft' else 'grpo'}/{run}"


def scored_files(config, built, data):
    """The row files the tables are scored and their baselines computed from (their hashes go in the tables'
    provenance): each tabled task's evaluation splits and training split, and the reasoning rows VAU-Eval reads."""
    files = []
    for t in tasks.tabled():
        files += [t.rows_file(data[t.source], s) for s in eval_splits(config, t.name)]
        files.append(t.rows_file(built if t.source == "vau" else data[t.source], "train"))
    if config["eval"]["reasoning"]:
        files += [tasks.get("reasoning").rows_file(data["vau"], s) for s in test_splits(config)]
    return files


def sft_checked_alone(config):
    """{SFT run: {"tasks", "base"}}: the SFT runs the learning check compares with their untrained base, on their
    tasks that no reward trains and VAU-Eval's proxy scores (the reasoning)."""
    out = {}
    for run in sft_runs(config):
        names = [t for t in run_tasks(config, run) if tasks.get(t).learning and tasks.get(t).learning.scores]
        if names:
            out[run] = {"tasks": names, "base": run_base(config, run)}
    return out


def learning_parts(runs, alone):
    """The learning check's jobs, each trained model checked once: `sft-<run>` for every SFT model a GRPO run
    starts from or that is checked alone, `grpo-<run>` for every GRPO run. runs: {GRPO run: {"sft": its SFT run or
    None, ...}}; alone: {SFT run: ...} (the check's arguments)."""
    sft = sorted({spec["sft"] for spec in runs.values() if spec["sft"]} | set(alone))
    return [f"sft-{run}" for run in sft] + [f"grpo-{run}" for run in sorted(runs)]
