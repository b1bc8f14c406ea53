"""Lint, format, schema and dry runs: the DAG's shape follows from the config alone."""

import json
import re

import pytest
import yaml

from conftest import REPO, load_merged, run, snakemake

PRESETS = sorted((REPO / "presets").glob("*.yaml"))
PRESETS = [p for p in PRESETS if p.name != "manifest.yaml"]


def expected_jobs(cfg):
    """Job count of `snakemake` (rule all) computed from the config, independently of the rules."""
    ds = cfg["datasets"]
    vau = {s["dataset"] for s in cfg["vaubench"]["sources"].values()}
    n = 1  # all
    n += 1  # synth_ball
    n += bool(cfg["rehearsal"]["source"])  # rehearsal_data: the rehearsal's annotations and placeholder clips
    n += any(ds[d]["origin"] == "synthetic" for d in vau)  # synth_vau: one job for every synthetic source
    n += sum(v["origin"] == "download" for v in ds.values())  # download (videos)
    n += cfg["annotations"]["vaubench"]["origin"] == "download"  # download (annotations)
    n += 2 * cfg["frames"]["shards"] * len(ds)  # extract_frames, size_frames
    n += 3  # vaubench_build, vaubench_link, ball_link
    n += 1  # build_model or fetch_model: the base model
    grpo = cfg["grpo"]["runs"]
    starts = {r: cfg["grpo"]["per_run"].get(r, {}).get("init", cfg["grpo"]["init"]) for r in grpo}
    zero_shot = {f"zs-{m}" for m in cfg["eval"]["zero_shot"]}  # further base models, evaluated as they are
    n += len(zero_shot)  # build_model or fetch_model of each zero-shot model
    # the base trains every task; each other base (model.other_bases) repeats the runs of its tasks
    groups = [("", ("qa", "tag", "cls", "ball"), grpo)]
    groups += [(f"@{b}", tasks, [r for r in grpo if r in tasks]) for b, tasks in cfg["model"]["other_bases"].items()]
    shown, qa_rows = {"base"} | zero_shot, {"base"} | zero_shot
    checked = set()  # learning_check: one job per trained model (GRPO runs, their SFT starts, SFT checked alone)
    for suffix, tasks, runs in groups:
        if suffix:
            n += f"zs-{suffix[1:]}" not in zero_shot  # fetch_model / build_model of that base
            shown.add(f"zs-{suffix[1:]}")
            qa_rows.add(f"zs-{suffix[1:]}")
        tasks_sft = [t for t in cfg["sft"]["tasks"] if not suffix or t in tasks]
        sft = set(tasks_sft) | {r if starts[r] == "sft" else starts[r][4:] for r in runs if starts[r] != "base"}
        inits = {cfg["sft"]["per_task"].get(r, {}).get("init", cfg["sft"]["init"]) for r in sft} - {"base"}
        n += len(sft | inits)  # sft runs: configured, GRPO warm starts, and the SFT runs those continue from
        checked |= {f"grpo-{r}{suffix}" for r in runs}
        checked |= {f"sft-{r if starts[r] == 'sft' else starts[r][4:]}{suffix}" for r in runs if starts[r] != "base"}
        checked |= {f"sft-{r}{suffix}" for r in sft | inits if "reasoning" in cfg["mixes"].get(r, [r])}
        n += len(runs)  # grpo, one per task or mix
        # evaluate: one job per model a table shows: per task the SFT model its RFT run started from (or its own
        # SFT run), and every RFT run
        shown |= {f"rft-{r}{suffix}" for r in runs}
        for task in tasks:
            if task in runs and starts[task] != "base":
                shown.add("sft-" + (task if starts[task] == "sft" else starts[task][4:]) + suffix)
            elif task in sft:
                shown.add(f"sft-{task}{suffix}")
        # vau_eval: one job per model of Table A (zero-shot ones, bases, their SFT models and QA RFT runs)
        if "qa" in tasks:
            qa_rows |= {m for m in shown if m == f"rft-qa{suffix}" or m == _qa_sft(cfg, starts, sft, suffix)}
    if cfg["learning_check"] and grpo:
        n += len(checked) + 1  # learning_check parts, learning_summary
    n += len(shown) + 1  # evaluate, then one tables job
    n += len(qa_rows) if cfg["eval"]["reasoning"] else 0
    n += 1  # plots
    n += bool(cfg["gpu_canary"])  # gpu_canary
    return n


def _qa_sft(cfg, starts, sft, suffix):
    if "qa" in cfg["grpo"]["runs"] and starts["qa"] != "base":
        return "sft-" + ("qa" if starts["qa"] == "sft" else starts["qa"][4:]) + suffix
    return f"sft-qa{suffix}" if "qa" in sft else None


def dry_run_total(*configfiles, target=(), workdir):
    """`snakemake -n` in `workdir` (a copy of config.yaml there) with these --configfile files."""
    p = snakemake("-n", *target, workdir=workdir, configfiles=configfiles)
    m = re.search(r"^total\s+(\d+)$", p.stdout, re.M)
    assert m, p.stdout[-2000:]
    return int(m.group(1)), p.stdout


def test_lint_clean():
    p = run(["snakemake", "--lint"], check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Congratulations" in p.stdout + p.stderr


def test_snakefmt_clean():
    p = run(["snakefmt", "--check", "Snakefile", "workflow/"], check=False)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize(
    "configfiles",
    [[], [REPO / "tests/smoke/config.yaml"], *[[p] for p in PRESETS]],
    ids=["default", "smoke", *[p.stem for p in PRESETS]],
)
def test_dry_run_job_count(configfiles, workdir):
    cfg = load_merged(*configfiles)
    total, out = dry_run_total(*configfiles, workdir=workdir)
    assert total == expected_jobs(cfg), out[-3000:]


def test_other_base_repeats_its_runs(workdir, tmp_path):
    """model.other_bases: the runs of the listed tasks again on that base (named <run>@<model>), warm starts
    included, each started from that base's own model folder; the job count still follows the formula."""
    extra = tmp_path / "other.yaml"
    extra.write_text("model: {other_bases: {tiny-qwen2vl: [qa, ball]}}\n")
    total, out = dry_run_total(extra, workdir=workdir)
    assert total == expected_jobs(load_merged(extra)), out[-3000:]
    jobs = re.split(r"\n(?=\[)", out)
    sft = next(j for j in jobs if "output: results/sft/qa-tag-cls-reasoning@tiny-qwen2vl" in j)
    assert "input: results/sft/tag@tiny-qwen2vl," in sft  # its warm start, on the same base
    sft = next(j for j in jobs if "output: results/sft/tag@tiny-qwen2vl" in j)
    assert "input: resources/models/tiny-qwen2vl," in sft
    grpo = next(j for j in jobs if "output: results/grpo/qa@tiny-qwen2vl" in j)
    assert "results/sft/qa-tag-cls-reasoning@tiny-qwen2vl" in grpo
    assert any("output: results/grpo/ball@tiny-qwen2vl" in j for j in jobs)
    assert not any("output: results/grpo/tag@tiny-qwen2vl" in j for j in jobs)  # tag is not among its tasks


def test_every_profile_schedules_greedily():
    """profiles/default loads with every run: the greedy scheduler, never the ILP one (multi-threaded CBC stalls at
    random, and Snakemake waits on it without a limit); no other profile brings the ILP back."""
    profiles = {p.parent.name: yaml.safe_load(p.read_text()) for p in (REPO / "profiles").glob("*/config.yaml")}
    assert profiles["default"]["scheduler"] == "greedy"
    assert {name: p.get("scheduler", "greedy") for name, p in profiles.items()} == dict.fromkeys(profiles, "greedy")


def test_default_dag_is_small(workdir):
    total, _ = dry_run_total(workdir=workdir)
    assert total < 60  # tens of jobs, not hundreds: every Python start costs seconds


def test_shards_change_only_frame_jobs(workdir, tmp_path):
    extra = tmp_path / "more_shards.yaml"
    extra.write_text("frames: {shards: 5}\n")
    a, _ = dry_run_total(workdir=workdir)
    b, out = dry_run_total(extra, workdir=workdir)
    assert b - a == 2 * 3 * 4  # extraction and sizing, 4 datasets, 2 -> 5 shards each
    assert re.search(r"^extract_frames\s+20$", out, re.M), out[-2000:]
    assert re.search(r"^size_frames\s+20$", out, re.M), out[-2000:]


def test_partial_target_data(workdir):
    total, out = dry_run_total(target=["data"], workdir=workdir)
    assert total == 3, out  # synth_ball, synth_vau, data
    assert "extract_frames" not in out


@pytest.mark.parametrize(
    "bad, key",
    [
        ("frames: {shards: 0}", "frames/shards"),
        ("datasets: {msad: {origin: ftp}}", "datasets/msad/origin"),
        ("synthetic: {ball: {n_trian: 3}}", "synthetic/ball"),
        ("datasets: {extra: {origin: local}}", "datasets/extra/path"),
        ("datasets: {ecva: {origin: download}}", "datasets/ecva/origin"),
        ("vaubench: {sources: {x: {prefix: x_, test_split: test_x, dataset: nope}}}", "vaubench/sources/x/dataset"),
        ("grpo: {init: 'sft:nope'}", "grpo/init"),
        ("grpo: {init: warm}", "grpo/init"),
        ("sft: {per_task: {tag: {init: qa-tag-cls-reasoning}}}", "sft/per_task/tag/init"),  # a cycle of warm starts
        ("model: {other_bases: {gpt-9: [qa]}}", "model/other_bases"),
        ("model: {other_bases: {tiny: [qa]}}", "model/other_bases"),  # the base itself
        ("model: {other_bases: {tiny-qwen2vl: [vqa]}}", "model/other_bases/tiny-qwen2vl/0"),
        ("datasets: {msda: {origin: local, path: /data/MSAD}}", "datasets/msda"),  # a misspelt dataset
        ("sft: {datasets: {tag: [msad, ecav]}}", "sft/datasets/tag"),
        ("models: {mine: {source: local, path: /nonexistent}}", "models/mine/path"),
        ("eval: {extra_models: [mine]}", "eval/extra_models"),
    ],
)
def test_bad_config_one_line_naming_the_key(bad, key, workdir, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(bad + "\n")
    p = snakemake("-n", workdir=workdir, configfiles=[REPO / "config.yaml", f], check=False)
    assert p.returncode != 0
    err = [line for line in (p.stdout + p.stderr).splitlines() if line.startswith("vauflow:")]
    assert len(err) == 1 and f"'{key}'" in err[0], p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr


def test_defaults_filled(tmp_path):
    f = tmp_path / "minimal.yaml"
    f.write_text(
        "datasets: {ball: {origin: synthetic}, msad: {origin: synthetic}, "
        "ucf_crime: {origin: synthetic}, ecva: {origin: synthetic}}\n"
    )
    p = run(["vauflow", "config", "check", "--show", str(f)])
    cfg = yaml.safe_load(p.stdout)
    assert cfg["frames"]["shards"] == 2 and cfg["download"]["retries"] == 3
    assert cfg["synthetic"]["ball"]["augment"] == {"blur": 0.2, "crop": 0.2}
    assert set(cfg["frames"]["budgets"]) == {"train", "infer_qa", "infer_tag"}


def test_every_schema_key_described():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    missing = []

    def walk(node, path):
        for key, sub in (node.get("properties") or {}).items():
            if "description" not in sub:
                missing.append(f"{path}/{key}")
            walk(sub, f"{path}/{key}")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}/*")

    walk(schema, "")
    assert not missing


def test_a_dataset_switched_off_leaves_the_dag(workdir, tmp_path):
    """Without MSAD (gated): `datasets.msad.origin: off` (YAML's bare off too) on the paper preset: no MSAD frames,
    its rows excluded as such at the link step, its test split out of every evaluation job, TAG on ECVA alone."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("datasets: {msad: {origin: off}}\n")
    cfg = load_merged(REPO / "presets/paper.yaml", mine)
    assert cfg["datasets"]["msad"]["origin"] == "off"
    p = snakemake("-n", "-p", workdir=workdir, configfiles=[REPO / "presets/paper.yaml", mine])
    dag = out = p.stdout
    assert "results/frames/msad/" not in out and "results/frames/ecva/shard-0" in out
    assert "--off msad" in out
    cells = [json.loads(c) for c in re.findall(r"--cells '(\[.*?\])'", out)]
    assert cells and not any(split == "test_msad" for c in cells for _, split, _ in c)
    assert any(split == "test_ecva" for c in cells for _, split, _ in c)
    for target in ("data", "frames"):  # the partial targets respect it too
        out = snakemake("-n", target, workdir=workdir, configfiles=[REPO / "presets/paper.yaml", mine]).stdout
        assert "msad" not in out.replace("test_msad", "") and "ecva" in out, target
    with_msad, _ = dry_run_total(REPO / "presets/paper.yaml", workdir=workdir)
    without = int(re.search(r"^total\s+(\d+)$", dag, re.M).group(1))
    assert with_msad - without == 2 * 16 + 1  # its 16 frame shards (extracted, sized), its download: the rest stays
