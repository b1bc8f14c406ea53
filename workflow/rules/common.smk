import json
import os
import re
import sys
import zlib
from pathlib import Path

from snakemake.utils import min_version

from vauflow.plan import (
    ConfigError,
    active_datasets,
    compose,
    eval_base,
    eval_model_folder,
    eval_models,
    evaluated_as_is,
    grpo_init_run,
    grpo_params,
    grpo_runs,
    judged_models,
    learning_parts,
    memory_refusal,
    model_folder,
    run_base,
    run_tasks,
    sft_checked_alone,
    sft_params,
    sft_runs,
    test_splits,
    validate_config,
)

min_version("9.27")

# the conda envs install vauflow itself from this checkout (envs/*.yaml: `-e ${VAUFLOW_CHECKOUT}`): Snakemake builds
# an env from a copy of its file, so the path comes from the environment conda's pip inherits
os.environ.update(VAUFLOW_CHECKOUT=str(workflow.basedir))


# The effective config: one preset (the one among the --configfile files, else config.yaml) with the overlays and
# --config over it (vauflow.config.compose); Snakemake's own merge would put every preset over config.yaml.
try:
    effective = compose(workflow.config_settings.configfiles, workflow.config_settings.config)
    config.clear()
    config.update(effective)
    validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as e:
    sys.exit(f"vauflow: {e}")


# datasets in use (`origin: off` ones leave the DAG; their rows are excluded as such at the link step)
DATASETS = active_datasets(config)
OFF_DATASETS = sorted(set(config["datasets"]) - set(DATASETS))
SOURCES = config["vaubench"]["sources"]
VAU_DATASETS = sorted({s["dataset"] for s in SOURCES.values()} & set(DATASETS))
SHARDS = list(range(config["frames"]["shards"]))
SYNTH_VAU_DATASETS = [d for d in VAU_DATASETS if DATASETS[d]["origin"] == "synthetic"]
DOWNLOAD_DATASETS = [d for d, v in DATASETS.items() if v["origin"] == "download"]
ANNOTATIONS = config["annotations"]["vaubench"]
MODELS = config["models"]
BUILD_MODELS = [m for m, v in MODELS.items() if v["source"] == "build"]
HUB_MODELS = [m for m, v in MODELS.items() if v["source"] == "hub"]
# the rehearsal of the paper preset: real annotations, placeholder clips in the local dataset folders
REHEARSAL = config["rehearsal"]
# (resolved here, not in config: params and the config hash stay the same wherever the checkout lives)
REHEARSAL_SOURCE = (
    str(Path(workflow.basedir) / REHEARSAL["source"]) if REHEARSAL["source"] else None
)
# the placeholder clips go only into the dataset folders the rehearsal owns (never into a user's own folder)
REHEARSAL_VIDEOS = [
    d
    for d in VAU_DATASETS
    if DATASETS[d]["origin"] == "local"
    and Path(DATASETS[d]["path"]) == Path("resources/rehearsal/videos") / d
]
# GRPO runs: the configured ones, and their repeats on other bases (<run>@<model>)
GRPO_RUNS = grpo_runs(config)
# SFT runs: the configured ones, the warm starts of GRPO runs that start from SFT, and their own warm starts
SFT_RUNS = sft_runs(config)
# the learning check compares each GRPO run with the SFT model it started from, where there is one
GRPO_INIT_SFT = {run: grpo_init_run(config, run) for run in GRPO_RUNS}
# SFT runs the learning check also compares with their untrained base (the reasoning task)
SFT_ALONE = sft_checked_alone(config)
# the learning check's arguments, and its jobs: each trained model checked once, as soon as it is trained
LEARNING_RUNS = {
    r: {
        "tasks": run_tasks(config, r),
        "sft": GRPO_INIT_SFT[r],
        "think": grpo_params(config, r)["target"] != "answer",
    }
    for r in GRPO_RUNS
}
LEARNING_ALONE = {
    r: {"tasks": s["tasks"], "base": model_folder(config, s["base"])} for r, s in SFT_ALONE.items()
}
LEARNING_PARTS = learning_parts(LEARNING_RUNS, LEARNING_ALONE)
# the evaluation matrix: every model a table needs, with its cells (task, split, think)
EVAL_MODELS = eval_models(config)
# GPU stages wait for the GPU canary when it is on (a wrong allocation fails in seconds, not after a queue wait)
GPU_GATE = ["results/canary/gpu.json"] if config["gpu_canary"] else []
# the models whose two-turn reasoning VAU-Eval scores (Table A's rows)
JUDGED_MODELS = judged_models(config)
# the memory plan (vauflow memory): a GPU job that cannot fit the gpu_mem_gb its profile gives it is refused here,
# before any GPU time is spent
MEMORY_REFUSAL = memory_refusal(config, workflow.resource_settings.overwrite_resources)
if MEMORY_REFUSAL:
    sys.exit(f"vauflow: {MEMORY_REFUSAL}")


def regex_or_nothing(names):
    """A wildcard constraint matching exactly `names` (or nothing, when empty)."""
    return "|".join(map(re.escape, names)) if names else "(?!)"


wildcard_constraints:
    dataset="|".join(DATASETS),
    run=regex_or_nothing(sorted(set(SFT_RUNS) | set(GRPO_RUNS))),
    shard=r"\d+",
    model=regex_or_nothing(EVAL_MODELS),


def videos_dir(wildcards):
    """Folder of a dataset's videos: generated, downloaded, or the user's own folder."""
    ds = DATASETS[wildcards.dataset]
    if ds["origin"] == "local":
        return ancient(ds["path"])
    return f"resources/videos/{wildcards.dataset}"


def annotations_dir():
    if ANNOTATIONS["origin"] == "local":
        return ancient(ANNOTATIONS["path"])
    return "resources/annotations/vaubench"


def frame_shards(datasets):
    """The sized frame caches of `datasets` (what every model input is built from)."""
    return [f"results/frames/{d}/sized-{i}" for d in datasets for i in SHARDS]


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def model_dir(name):
    """A model's folder; a local one (the user's) as an input that never triggers a rerun by its date."""
    folder = model_folder(config, name)
    return ancient(folder) if MODELS[name]["source"] == "local" else folder


def learning_part_args(wildcards):
    """The check's arguments one part reads (a run added or changed elsewhere does not rerun it): a GRPO run's own
    spec; for an SFT model, the runs that start from it and its own check alone."""
    stage, run = wildcards.part.split("-", 1)
    if stage == "grpo":
        runs, alone = {run: LEARNING_RUNS[run]}, {}
    else:
        runs = {r: s for r, s in LEARNING_RUNS.items() if s["sft"] == run}
        alone = {run: LEARNING_ALONE[run]} if run in LEARNING_ALONE else {}
    return {"runs": as_json(runs), "sft_alone": as_json(alone)}


def learning_part_models(wildcards):
    """The model folders one part of the learning check reads."""
    stage, run = wildcards.part.split("-", 1)
    if stage == "grpo":
        return {"grpo": f"results/grpo/{run}"}
    return {"sft": f"results/sft/{run}"} | (
        {"base": model_dir(SFT_ALONE[run]["base"])} if run in SFT_ALONE else {}
    )


def eval_model_dir(wildcards):
    """A table row's model folder: a trained run's output, or a models entry's folder (as model_dir)."""
    m = wildcards.model
    return model_dir(eval_base(config, m)) if evaluated_as_is(m) else eval_model_folder(config, m)


def sft_init(wildcards):
    """The model an SFT run starts from: its base, or the SFT run it continues (sft init)."""
    init = sft_params(config, wildcards.run)["init"]
    return model_dir(run_base(config, wildcards.run)) if init == "base" else f"results/sft/{init}"


def grpo_init(wildcards):
    """The model a GRPO run starts from: its base, or the SFT run it warm-starts from."""
    init = grpo_init_run(config, wildcards.run)
    return model_dir(run_base(config, wildcards.run)) if init is None else f"results/sft/{init}"


TRAINING_SETTINGS = {"sft": sft_params, "grpo": grpo_params}


def training_params(stage):
    """The params of the training jobs (sft, grpo), the run's tasks, resolved settings (JSON), frame budget, accelerate
    config, rendezvous port and checkpoint folder."""
    return {
        "tasks": lambda wc: " ".join(run_tasks(config, wc.run)),
        "settings": lambda wc: as_json(TRAINING_SETTINGS[stage](config, wc.run)),
        "budget": as_json(config["frames"]["budgets"]["train"]),
        "accelerate": str(
            Path(workflow.basedir)
            / "workflow"
            / "accelerate"
            / f"{config[stage]['accelerate']}.yaml"
        ),
        "port": lambda wc: job_port(wc, stage),
        "checkpoints": lambda wc: f"checkpoints/{stage}/{wc.run}",
    }


def training_shell(stage):
    """The shell line of the training jobs, `vauflow <stage>` through `vauflow launch` on the job's GPUs."""
    return (
        "OMP_NUM_THREADS={threads} vauflow launch --gpus {resources.gpu} "
        "--accelerate-config {params.accelerate:q} --port {params.port} -- "
        f"{stage} --run {{wildcards.run}} --tasks {{params.tasks}} --init {{input.init:q}} "
        "--vau-data {input.vau:q} --ball-data {input.ball:q} --out {output:q} "
        "--checkpoints {params.checkpoints:q} --params {params.settings:q} --budget {params.budget:q} "
        "> {log:q} 2>&1"
    )


def job_port(wildcards, rule):
    """A rendezvous port per job (concurrent jobs on one node must not share 29500)."""
    return 29500 + zlib.crc32(f"{rule}/{dict(wildcards)}".encode()) % 2000
