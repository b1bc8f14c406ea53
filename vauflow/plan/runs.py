"""The runs a validated config makes: SFT and GRPO runs, their tasks, bases and warm starts; the full validation
(the schema's, then the runs')."""

from vauflow import tasks
from vauflow.config import DEFAULT_PRESET, SCHEMA_PATH, ConfigError, check, compose
from vauflow.settings import grpo_params, sft_params, split_run


def validate_config(config, schema_path=SCHEMA_PATH):
    """Fill defaults into `config` in place and check it (schema, datasets, models, runs and their warm starts);
    raise ConfigError with one line naming the key."""
    check(config, schema_path)
    check_runs(config)
    return config


def load_config(*paths, overrides=None, default=DEFAULT_PRESET):
    """The validated config of `paths` composed as Snakemake runs them (`snakemake --configfile PATHS`): one preset
    (config.yaml in the working directory when no path is one), overlays merged over it, then `overrides`."""
    return validate_config(compose(paths, overrides, default))


def check_runs(config):
    """Every run names a trainable task or a mix; warm starts exist and form no cycle; per-run overrides are valid."""
    trainable = tasks.trainable()
    for key, lists in (("mixes", config["mixes"]), ("model/other_bases", config["model"]["other_bases"])):
        for name, names in lists.items():
            for i, task in enumerate(names or []):
                if task not in trainable:
                    raise ConfigError(
                        f"config key '{key}/{name}/{i}': '{task}' is not a trainable task ({', '.join(trainable)})"
                    )
    for stage, key in (("sft", "tasks"), ("grpo", "runs")):
        for name in config[stage][key]:
            if name not in trainable and name not in config["mixes"]:
                raise ConfigError(f"config key '{stage}/{key}': '{name}' is neither a task nor a mix in 'mixes'")
    for task in config["sft"]["per_task"]:
        sft_params(config, task)
    for name in config["grpo"]["runs"]:
        unrewarded = [t for t in run_tasks(config, name) if not tasks.get(t).rewards]
        if unrewarded:
            raise ConfigError(
                f"config key 'grpo/runs': run '{name}' includes {', '.join(unrewarded)}, which no GRPO reward "
                "scores (SFT trains it: add it to an SFT run's mix)"
            )
        init = grpo_init_run(config, name)
        if init is not None and init not in trainable and init not in config["mixes"]:
            raise ConfigError(f"config key 'grpo/init' of run '{name}': '{init}' is neither a task nor a mix")
    for name in sft_runs(config):  # SFT warm starts: runs that exist, no cycles
        seen = [name]
        while (init := sft_params(config, seen[-1])["init"]) != "base":
            if split_run(init)[0] not in trainable and split_run(init)[0] not in config["mixes"]:
                raise ConfigError(
                    f"config key 'sft/per_task/{seen[-1]}/init': '{init}' is neither 'base', a task nor a mix"
                )
            if init in seen:
                raise ConfigError(f"config key 'sft/per_task/{seen[-1]}/init': cycle {' -> '.join(seen + [init])}")
            seen.append(init)
    for name in config["grpo"]["per_run"]:
        grpo_params(config, name)


# -- runs and warm starts -------------------------------------------------------------------------------------
def active_datasets(config):
    """The datasets in use (not `origin: off`)."""
    return {d: v for d, v in config["datasets"].items() if v["origin"] != "off"}


def model_folder(config, name):
    """Where a model's folder is: built or fetched into resources/models/<name>, or the user's own (local)."""
    m = config["models"][name]
    return m["path"] if m["source"] == "local" else f"resources/models/{name}"


def run_base(config, name):
    """The base model a run (and the runs it starts from) is trained from."""
    return split_run(name)[1] or config["model"]["base"]


def run_tasks(config, name):
    """Tasks of a run: a task name, or a mix from `mixes` (on whichever base)."""
    name = split_run(name)[0]
    return list(config["mixes"][name]) if name in config["mixes"] else [name]


def grpo_runs(config):
    """Every GRPO run: the configured ones, then those repeated for each other base on its tasks."""
    runs = list(config["grpo"]["runs"])
    return runs + [f"{r}@{b}" for b, tasks in config["model"]["other_bases"].items() for r in runs if r in tasks]


def grpo_init_run(config, name):
    """The SFT run a GRPO run starts from, or None when it starts from the base model."""
    init = grpo_params(config, name)["init"]
    if init == "base":
        return None
    return name if init == "sft" else init.split(":", 1)[1]


def sft_runs(config):
    """Every SFT run the DAG makes: the configured tasks (and their repeats on other bases), the warm starts of
    GRPO runs, and the runs those continue from (sft init), in a stable order."""
    runs = list(config["sft"]["tasks"])
    runs += [f"{t}@{b}" for b, tasks in config["model"]["other_bases"].items() for t in runs if t in tasks]
    runs += [r for r in map(lambda g: grpo_init_run(config, g), grpo_runs(config)) if r is not None]
    out = []
    while runs:
        name = runs.pop(0)
        if name not in out:
            out.append(name)
            init = sft_params(config, name)["init"]
            if init != "base" and init not in out:
                runs.append(init)
    return out


def main_check(a):
    """`vauflow config check`."""
    import json

    cfg = load_config(*a.configfile)
    print(json.dumps(cfg, indent=2, sort_keys=True) if a.show else "config ok")
