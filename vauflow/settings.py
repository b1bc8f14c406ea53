"""Stage settings: a run's SFT or GRPO settings resolved from the validated config (the stage's shared keys, the
run's overrides merged over them, checked against the schema), as the rules pass them to the stage (JSON)."""

import copy

from vauflow.config import SCHEMA_PATH, ConfigError, config_key, validator_class, load_schema, merge


def split_run(name):
    """'qa@qwen2-vl-2b' -> ('qa', 'qwen2-vl-2b'): a run of another base (`model.other_bases`); 'qa' -> ('qa', None)."""
    run, _, base = name.partition("@")
    return run, base or None


def _stage_params(config, stage, name, overrides_key, list_keys, schema_path):
    section = config[stage]
    params = {k: copy.deepcopy(v) for k, v in section.items() if k not in (*list_keys, overrides_key)}
    run, base = split_run(name)
    merge(params, copy.deepcopy(section[overrides_key].get(run, {})))
    if base:  # a run of another base: the same settings, its own overrides on top
        merge(params, copy.deepcopy(section[overrides_key].get(name, {})))
    schema = load_schema(schema_path)["properties"][stage]
    keep = {k: v for k, v in schema["properties"].items() if k not in (*list_keys, overrides_key)}
    errors = list(validator_class()(schema | {"properties": keep}).iter_errors(params))
    if errors:
        e = errors[0]
        raise ConfigError(f"config key '{stage}/{overrides_key}/{name}/{config_key(e.absolute_path)}': {e.message}")
    for task, names in params["datasets"].items():  # per-run overrides included
        for ds in names:
            if ds not in config["datasets"]:
                raise ConfigError(f"config key '{stage}/{overrides_key}/{name}/datasets/{task}': '{ds}' is not in "
                                  "'datasets'")
    if base and params["init"] not in ("base", "sft"):  # the run it continues from is that base's too
        params["init"] = f"{params['init']}@{base}"
    params["seed"] = config["seed"]
    params["dtype"] = config["model"]["dtype"]
    params["attn_implementation"] = config["model"]["attn_implementation"]
    return params


def sft_params(config, name, schema_path=SCHEMA_PATH):
    """The SFT settings of one run (task or mix): shared keys with its `per_task` overrides merged over them."""
    return _stage_params(config, "sft", name, "per_task", ("tasks",), schema_path)


def grpo_params(config, name, schema_path=SCHEMA_PATH):
    """The GRPO settings of one run (task or mix): shared keys with its `per_run` overrides merged over them."""
    return _stage_params(config, "grpo", name, "per_run", ("runs",), schema_path)
