"""The config: presets and overlays composed into one mapping, checked against the JSON schema (defaults filled
in) with one-line errors that name the key. What the config makes (runs, cells, paths) is vauflow.plan's."""

import copy
import functools
from pathlib import Path

import yaml

# package data: links to workflow/schemas/config.schema.yaml (the catalog's place) in a checkout, the file itself in an
# installed package (pyproject's package-data), so `vauflow` works outside the checkout
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "config.schema.yaml"


class ConfigError(Exception):
    pass


@functools.cache
def validator_class():
    """JSON Schema 2020-12 with `properties` filling in each missing key's `default` first (jsonschema is imported
    here, not with the module: the GPU image reads configs without it, bench/gpu_smoke.py)."""
    from jsonschema import Draft202012Validator, validators

    cls = Draft202012Validator
    check_properties = cls.VALIDATORS["properties"]

    def fill_then_check(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(cls, {"properties": fill_then_check})


def config_key(path):
    return "/".join(str(p) for p in path) or "<top level>"


@functools.lru_cache(maxsize=4)
def _schema(path, mtime_ns):
    return yaml.safe_load(Path(path).read_text())


def load_schema(schema_path=SCHEMA_PATH):
    """The config schema, parsed once per file version (run parameters are resolved per run, many times; parsing
    the YAML each time took seconds). Read only: never modify the returned object."""
    path = Path(schema_path).resolve()
    return _schema(str(path), path.stat().st_mtime_ns)


def check(config, schema_path=SCHEMA_PATH):
    """Fill defaults into `config` in place and check it against the schema and the cross-key rules of datasets
    and models; raise ConfigError with one line naming the key. (vauflow.plan.validate_config adds the runs'.)"""
    schema = load_schema(schema_path)
    for ds in (config.get("datasets") or {}).values():  # YAML 1.1 reads a bare `origin: off` as false
        if isinstance(ds, dict) and ds.get("origin") is False:
            ds["origin"] = "off"
    if isinstance(config.get("models"), dict):  # a user's models add to the defined ones (tiny, the hub models)
        models = copy.deepcopy(schema["properties"]["models"]["default"])
        merge(models, config["models"])
        config["models"] = models
    errors = sorted(validator_class()(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"config key '{config_key(e.absolute_path)}': {e.message}{more}")
    _check_consistency(config)
    return config


def _check_consistency(config):
    """Cross-key rules the schema cannot express."""
    sources = config["vaubench"]["sources"]
    for name, src in sources.items():
        if src["dataset"] not in config["datasets"]:
            raise ConfigError(f"config key 'vaubench/sources/{name}/dataset': '{src['dataset']}' is not in 'datasets'")
    if config["annotations"]["vaubench"]["origin"] == "synthetic":
        for name, src in sources.items():
            if config["datasets"][src["dataset"]]["origin"] not in ("synthetic", "off"):
                raise ConfigError(
                    f"config key 'datasets/{src['dataset']}/origin': synthetic annotations need "
                    f"synthetic videos for source '{name}'"
                )
    used = {src["dataset"] for src in sources.values()} | {"ball"}
    for name, ds in config["datasets"].items():
        if ds["origin"] == "local" and not ds.get("path"):
            raise ConfigError(f"config key 'datasets/{name}/path': required when origin is 'local'")
        if name not in used:
            raise ConfigError(
                f"config key 'datasets/{name}': no VAU-Bench source uses it (sources use "
                f"{', '.join(sorted(used - {'ball'}))}; a misspelt name?)"
            )
    for stage in ("sft", "grpo"):
        for task, names in config[stage]["datasets"].items():
            for name in names:
                if name not in config["datasets"]:
                    raise ConfigError(f"config key '{stage}/datasets/{task}': '{name}' is not in 'datasets'")
    if config["datasets"].get("ball", {}).get("origin", "synthetic") != "synthetic":
        raise ConfigError("config key 'datasets/ball/origin': the ball set is always synthetic")
    if config["model"]["base"] not in config["models"]:
        raise ConfigError(f"config key 'model/base': '{config['model']['base']}' is not in 'models'")
    for name in config["eval"]["zero_shot"]:
        if name not in config["models"]:
            raise ConfigError(f"config key 'eval/zero_shot': '{name}' is not in 'models'")
        if name == config["model"]["base"]:
            raise ConfigError(f"config key 'eval/zero_shot': '{name}' is the trained base (its row is 'base')")
    for name in config["model"]["other_bases"]:
        if name not in config["models"]:
            raise ConfigError(f"config key 'model/other_bases': '{name}' is not in 'models'")
        if name == config["model"]["base"]:
            raise ConfigError(f"config key 'model/other_bases': '{name}' is the base already")
    for name, m in config["models"].items():
        if m["source"] == "build" and "shape" not in m:
            raise ConfigError(f"config key 'models/{name}/shape': required when source is 'build'")
        if m["source"] == "hub" and not m.get("repo"):
            raise ConfigError(f"config key 'models/{name}/repo': required when source is 'hub'")
        if m["source"] == "local":
            local_model(name, m)
        for key in ("family", "class", "processor"):
            if key not in m:
                raise ConfigError(f"config key 'models/{name}/{key}': required when source is '{m['source']}'")
    for name in config["eval"]["extra_models"]:
        if name not in config["models"]:
            raise ConfigError(f"config key 'eval/extra_models': '{name}' is not in 'models'")
    ann = config["annotations"]["vaubench"]
    if ann["origin"] == "local" and not ann.get("path"):
        raise ConfigError("config key 'annotations/vaubench/path': required when origin is 'local'")


FAMILIES = {
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor"),
    "qwen2_vl": ("Qwen2VLForConditionalGeneration", "Qwen2VLProcessor"),
}


def local_model(name, spec):
    """Fill a local model's family, class and processor from its folder's config.json, checking what the config
    says against it (a wrong folder fails here, at DAG time, in one line)."""
    import json

    key = f"config key 'models/{name}/path'"
    if not spec.get("path"):
        raise ConfigError(f"{key}: required when source is 'local'")
    cfg = Path(spec["path"]) / "config.json"
    try:
        folder = json.loads(cfg.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{key}: {cfg} does not exist (a model folder holds config.json and its weights)") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{key}: {cfg} is not readable JSON ({e})") from None
    family = folder.get("model_type")
    if family not in FAMILIES:
        raise ConfigError(f"{key}: {cfg} is a {family!r} model; vauflow runs {', '.join(FAMILIES)}")
    arch = (folder.get("architectures") or [FAMILIES[family][0]])[0]
    for k, want in (("family", family), ("class", arch)):
        if spec.get(k) not in (None, want):
            raise ConfigError(f"config key 'models/{name}/{k}': '{spec[k]}', but {cfg} says '{want}'")
    spec.setdefault("family", family)
    spec.setdefault("class", arch)
    spec.setdefault("processor", FAMILIES[family][1])


# -- presets and overlays --------------------------------------------------------------------------------------
# A preset is a config file with a top-level `preset: <name>` key: a complete configuration made of the schema
# defaults, the preset it `extends` (a path relative to the file, recursively) and itself. config.yaml is the
# preset `default`. Any other config file is an overlay. The effective config is one preset (the one named among
# the --configfile files, else config.yaml) with every overlay merged over it, left to right, then --config. A
# preset never inherits config.yaml: the tiny default's values cannot leak into the paper run.
# Merging: mappings merge key by key; `null` removes a key (the schema default then applies); an empty mapping
# `{}` empties a mapping; anything else replaces.
DEFAULT_PRESET = "config.yaml"


def _read_yaml(path):
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"config file {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path}: not YAML ({str(e).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return doc


def is_preset(doc):
    return "preset" in doc


def preset_chain(path):
    """The documents of a preset and of everything it extends, the root first."""
    chain, seen, path = [], [], Path(path).resolve()
    while True:
        if path in seen:
            raise ConfigError(f"config key 'extends' of {seen[-1]}: cycle {' -> '.join(map(str, seen + [path]))}")
        seen.append(path)
        doc = _read_yaml(path)
        if not is_preset(doc):
            raise ConfigError(f"config file {path}: extended as a preset but has no 'preset' key")
        chain.insert(0, doc)
        if not doc.get("extends"):
            return chain
        path = (path.parent / doc["extends"]).resolve()


def compose(configfiles=(), overrides=None, default=DEFAULT_PRESET):
    """The effective config (not yet validated): one preset, the overlays over it, then `overrides` (--config)."""
    docs = [(Path(f), _read_yaml(f)) for f in configfiles]
    presets = [f for f, doc in docs if is_preset(doc)]
    if len(presets) > 1:
        raise ConfigError(
            "--configfile names more than one preset (" + ", ".join(map(str, presets)) + "): give one "
            "preset, then overlays (files without a 'preset' key)"
        )
    if presets:
        chain = preset_chain(presets[0])
    elif default is not None and Path(default).is_file():  # config.yaml: the default preset (or a plain base)
        chain = preset_chain(default) if is_preset(_read_yaml(default)) else [_read_yaml(default)]
    else:
        chain = []
    config = {}
    for doc in chain:
        merge(config, doc)
    for _, doc in docs:
        if not is_preset(doc):
            merge(config, doc)
    merge(config, copy.deepcopy(dict(overrides or {})))
    config.pop("extends", None)
    return config


def merge(base, extra):
    """Merge `extra` into `base` in place: mappings key by key, null removes, an empty mapping empties."""
    for k, v in extra.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and v and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
