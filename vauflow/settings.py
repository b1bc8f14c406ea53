"""Stage settings: a run's SFT or GRPO settings resolved from the validated config (the stage's shared keys, the
run's overrides merged over them, checked against the schema), as the rules pass them to the stage (JSON), and the
frozen dataclasses each stage builds from them at its entry (`SFTSettings.of(params)`, as TRL's SFTConfig)."""

import copy
from dataclasses import asdict, dataclass, fields

from vauflow.config import SCHEMA_PATH, ConfigError, config_key, load_schema, merge, validator_class


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
                raise ConfigError(
                    f"config key '{stage}/{overrides_key}/{name}/datasets/{task}': '{ds}' is not in 'datasets'"
                )
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


# -- typed settings: what each stage reads, built at its entry from the resolved settings above -------------------
# The schema stays the one declaration of names, types and defaults; tests/test_config.py keeps these fields equal
# to its properties (a key added to one and not the other fails there).
@dataclass(frozen=True)
class LoraSettings:
    r: int
    alpha: float
    dropout: float
    target_regex: str
    modules_to_save: tuple[str, ...]


@dataclass(frozen=True)
class TrainingSettings:
    """What SFT and GRPO share: the schema's keys of their sections (less the run lists and per-run overrides) and
    the config-wide ones a run carries (seed, model dtype and attention)."""

    target: str
    method: str
    freeze_vision: bool
    lora: LoraSettings
    init: str
    threads: int
    effective_batch: int
    per_device_batch: int
    learning_rate: float
    lr_scheduler: str
    epochs: float
    max_steps: int
    save_steps: int
    log_steps: int
    gradient_checkpointing: bool
    report_to: str
    accelerate: str
    datasets: dict
    seed: int
    dtype: str
    attn_implementation: str

    @classmethod
    def of(cls, params):
        """The settings of a run from its resolved JSON (sft_params / grpo_params, as the rules pass them), or the
        settings themselves."""
        if isinstance(params, cls):
            return params
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown settings {', '.join(unknown)}")
        values = dict(params)
        values["lora"] = LoraSettings(**{**values["lora"], "modules_to_save": tuple(values["lora"]["modules_to_save"])})
        return cls(**values)

    def as_dict(self):
        """The JSON form (manifests, run keys, trackers): as the rules pass it."""
        out = asdict(self)
        out["lora"]["modules_to_save"] = list(out["lora"]["modules_to_save"])
        return out


@dataclass(frozen=True)
class SFTSettings(TrainingSettings):
    warmup_steps: int
    max_target_tokens: int | None


@dataclass(frozen=True)
class GRPOSettings(TrainingSettings):
    num_generations: int
    temperature: float
    top_k: int
    top_p: float
    max_completion_length: int
    logprob_chunk: int
    beta: float
    epsilon: float
    loss_type: str
    max_grad_norm: float


@dataclass(frozen=True)
class EvalSettings:
    """The evaluation section, as `vauflow eval run` gets it (the rules pass the whole section)."""

    prompts: str
    think: tuple[bool, ...]
    batch_size: int
    max_new_tokens: dict
    threads: int
    repetition_penalty: float
    cls_population: str
    zero_shot: tuple[str, ...]
    extra_models: tuple[str, ...]
    reasoning: bool
    judge: dict

    @classmethod
    def of(cls, section):
        if isinstance(section, cls):
            return section
        unknown = sorted(set(section) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown settings {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in section.items()})
