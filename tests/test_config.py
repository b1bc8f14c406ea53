"""How configs compose: a preset is the schema defaults + what it extends + itself (never config.yaml); overlays merge
over one preset (null removes a key, {} empties a mapping); --config comes last. The same in `vauflow config` and in
the Snakefile."""

import json
import re
import shutil

import pytest
import yaml

from vauflow.config import ConfigError, compose, merge
from vauflow.plan import load_config, validate_config

from conftest import REPO, load_merged, snakemake

PAPER = REPO / "presets" / "paper.yaml"
SMOKE = REPO / "tests" / "smoke" / "config.yaml"
# values no preset or schema default has: planted in config.yaml, they must not reach a preset's run
PLANTED = {
    "eval": {"max_new_tokens": {"answer": 3, "think": 5, "reasoning": 7}, "batch_size": 99, "threads": 7},
    "sft": {"freeze_vision": True, "per_task": {"qa": {"max_steps": 77}}},
    "grpo": {"runs": ["qa"], "per_run": {"tag": {"max_steps": 66}}},
    "synthetic": {"ball": {"n_train": 12}},
    "frames": {"shards": 9},
}


def leaves(obj, path=()):
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from leaves(v, path + (k,))
    else:
        yield path, obj


def planted_default(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    merge(cfg, PLANTED)
    f = tmp_path / "config.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return f


def test_every_leaf_of_the_paper_config_is_the_presets_or_the_schemas(tmp_path):
    """The effective paper config owes nothing to config.yaml: each leaf is the paper preset's value or the schema
    default; the tiny values planted in config.yaml reach none of it."""
    default = planted_default(tmp_path)
    effective = load_config(PAPER, default=default)
    preset = dict(leaves(yaml.safe_load(PAPER.read_text())))
    synthetic = {d: {"origin": "synthetic"} for d in ("ball", "msad", "ucf_crime", "ecva")}
    schema_only = dict(leaves(validate_config({"datasets": synthetic})))
    for path, value in leaves(effective):
        want = preset[path] if path in preset else schema_only.get(path, "<not a default>")
        if path[0] == "datasets":  # the one required key: the preset's entries, with the default path
            want = preset.get(path, None)
        assert value == want, (path, value, want)
    planted = dict(leaves(PLANTED))
    assert all(dict(leaves(effective)).get(p) != v for p, v in planted.items())
    # upstream's generation length everywhere, set by the preset itself (the schema's defaults are 64/1024/512)
    assert effective["eval"]["max_new_tokens"] == {"answer": 1024, "think": 1024, "reasoning": 1024}
    assert effective["preset"] == "paper" and "extends" not in effective
    # the control: Snakemake's plain deep merge (config.yaml, then the preset) lets them through
    naive = yaml.safe_load(default.read_text())
    merge(naive, yaml.safe_load(PAPER.read_text()))
    assert naive["eval"]["threads"] == 7 and naive["sft"]["freeze_vision"] is True


def test_four_ways_configs_meet(tmp_path):
    # 1. the smoke overlay over the default preset: a plain deep merge
    smoke = load_merged(REPO / "config.yaml", SMOKE)
    naive = yaml.safe_load((REPO / "config.yaml").read_text())
    merge(naive, yaml.safe_load(SMOKE.read_text()))
    assert smoke == validate_config(naive) and smoke["preset"] == "default" and smoke["seed"] == 1
    assert load_merged(SMOKE) == smoke  # config.yaml is the preset when no --configfile is one
    # 2. the paper preset
    paper = load_merged(PAPER)
    assert paper["model"]["other_bases"] == {"qwen2-vl-2b": ["qa"]} and paper["sft"]["freeze_vision"] is False
    # 3. a preset that extends the paper preset: the paper's values, its own on top
    small = tmp_path / "presets" / "paper-small.yaml"
    small.parent.mkdir()
    small.write_text(f"preset: paper-small\nextends: {PAPER}\neval: {{think: [false]}}\n")
    got = load_merged(small)
    assert got["preset"] == "paper-small" and got["eval"]["think"] == [False] and "extends" not in got
    assert {k: v for k, v in got.items() if k not in ("preset", "eval")} == {
        k: v for k, v in paper.items() if k not in ("preset", "eval")
    }
    # 4. a user's overlay on the paper preset adds, changes and removes entries
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "model: {other_bases: {}}\neval: {zero_shot: ~}\ngrpo: {per_run: {cls: ~}}\n"
        "datasets: {msad: {origin: local, path: /data/MSAD}}\n"
    )
    got = load_merged(PAPER, mine)
    assert got["model"]["other_bases"] == {} and got["eval"]["zero_shot"] == []
    assert "cls" not in got["grpo"]["per_run"] and "ball" in got["grpo"]["per_run"]
    assert got["datasets"]["msad"] == {"origin": "local", "path": "/data/MSAD"} and got["datasets"]["ecva"] == {
        "origin": "download",
        "path": None,
    }


def test_preset_errors_are_one_line(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"preset: a\nextends: {b}\n")
    b.write_text(f"preset: b\nextends: {a}\n")
    with pytest.raises(ConfigError, match="cycle"):
        compose([a])
    with pytest.raises(ConfigError, match="more than one preset"):
        compose([REPO / "config.yaml", PAPER])
    overlay = tmp_path / "c.yaml"
    overlay.write_text(f"preset: c\nextends: {SMOKE}\n")
    with pytest.raises(ConfigError, match="no 'preset' key"):
        compose([overlay])


def test_the_snakefile_composes_configs_the_same_way(tmp_path):
    """Through Snakemake: config.yaml's planted values stay out of the paper run's commands, a user's overlay
    removes the preset's second base from the DAG, and two presets stop in one line."""
    wd = tmp_path / "wd"
    wd.mkdir()
    shutil.copy(planted_default(tmp_path), wd / "config.yaml")
    shutil.copytree(REPO / "presets", wd / "presets")
    mine = tmp_path / "mine.yaml"
    mine.write_text("model: {other_bases: {}}\n")
    assert "results/grpo/qa@qwen2-vl-2b" in snakemake("-n", workdir=wd, configfiles=[PAPER], timeout=300).stdout
    out = snakemake("-n", "-p", workdir=wd, configfiles=[PAPER, mine], timeout=300).stdout
    assert "@qwen2-vl-2b" not in out  # no run of the second base is left
    settings = [json.loads(m) for m in re.findall(r"--settings '(\{.*?\})'", out)]
    assert settings and all(
        s["max_new_tokens"] == {"answer": 1024, "think": 1024, "reasoning": 1024}
        and s["batch_size"] == 1
        and s["threads"] != 7
        for s in settings
    )
    p = snakemake("-n", workdir=wd, configfiles=[wd / "config.yaml", PAPER], check=False)
    err = [line for line in (p.stdout + p.stderr).splitlines() if line.startswith("vauflow:")]
    assert p.returncode != 0 and len(err) == 1 and "more than one preset" in err[0], p.stdout + p.stderr


def test_typed_settings_follow_the_schema():
    """The schema is the one declaration: each stage's frozen dataclass has exactly its section's keys (less the run
    list and per-run overrides) plus the config-wide ones a run carries; every run of the default and the paper
    preset builds it and round-trips to the JSON the rules pass; an unknown key is refused. The frame-budget names
    the code reads (training and each task's evaluation) are required by the schema, whose defaults are the paper's
    budgets (the paper preset does not restate them)."""
    import dataclasses

    from vauflow import tasks
    from vauflow.config import load_schema
    from vauflow.frames.budget import paper_budgets
    from vauflow.plan import grpo_params, sft_params
    from vauflow.settings import EvalSettings, GRPOSettings, LoraSettings, SFTSettings

    schema = load_schema()["properties"]
    carried = {"seed", "dtype", "attn_implementation"}
    for cls, stage, own in ((SFTSettings, "sft", {"tasks", "per_task"}), (GRPOSettings, "grpo", {"runs", "per_run"})):
        section = schema[stage]["properties"]
        assert {f.name for f in dataclasses.fields(cls)} == set(section) - own | carried, cls
        assert {f.name for f in dataclasses.fields(LoraSettings)} == set(section["lora"]["properties"])
    assert {f.name for f in dataclasses.fields(EvalSettings)} == set(schema["eval"]["properties"])
    for preset in (REPO / "config.yaml", REPO / "presets/paper.yaml"):
        cfg = load_config(preset)
        for run in cfg["sft"]["tasks"]:
            assert SFTSettings.of(sft_params(cfg, run)).as_dict() == sft_params(cfg, run)
        for run in cfg["grpo"]["runs"]:
            s = GRPOSettings.of(grpo_params(cfg, run))
            assert s.as_dict() == grpo_params(cfg, run) and s.lora.modules_to_save == tuple(s.lora.modules_to_save)
            with pytest.raises(dataclasses.FrozenInstanceError):
                s.beta = 0.0
        assert EvalSettings.of(cfg["eval"]).batch_size == cfg["eval"]["batch_size"]
    with pytest.raises(ValueError, match="unknown settings typo"):
        GRPOSettings.of(grpo_params(load_config(REPO / "config.yaml"), "qa") | {"typo": 1})
    budgets = schema["frames"]["properties"]["budgets"]
    assert {"train"} | {t.budget for t in tasks.TASKS.values()} <= set(budgets["required"])
    assert "budgets" not in yaml.safe_load((REPO / "presets/paper.yaml").read_text())["frames"]
    assert load_config(REPO / "presets/paper.yaml")["frames"]["budgets"] == budgets["default"]
    assert set(paper_budgets()) == set(budgets["default"])
