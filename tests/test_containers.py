"""Container specs, checked without an engine (none exists on our machines; nothing here claims an image ran):
hadolint, the Dockerfile structure, pins equal to the lock, every GPU rule in a container, and `make pin-images`."""

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from conftest import REPO, VENV_BIN

DOCKERFILES = sorted((REPO / "containers").glob("*/Dockerfile"))
HADOLINT = [str(VENV_BIN / "hadolint"), "-c", str(REPO / "containers/.hadolint.yaml")]
GPU_RULES = {"sft": "train", "grpo": "train", "gpu_canary": "train", "evaluate": "eval", "learning_check": "eval"}
TORCH_CPU_RULES = {"size_frames": "train"}  # CPU jobs that need torch: the image that has it


def lock():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def pins_in(text):
    return {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"(?<![\w.-])([A-Za-z][\w.-]*)==([\w.+-]+)", text)
    }


def test_one_image_per_stage_family():
    assert [p.parent.name for p in DOCKERFILES] == ["data", "eval", "train"]


def test_hadolint_clean():
    p = subprocess.run(HADOLINT + list(map(str, DOCKERFILES)), capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_hadolint_catches_what_it_should(tmp_path):
    """The lint really runs with our config: an unpinned, root, `latest` image fails."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install torch\n")
    p = subprocess.run(HADOLINT + [str(bad)], capture_output=True, text=True)
    assert p.returncode != 0 and "DL3007" in p.stdout and "DL3013" in p.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_structure(dockerfile):
    df = DockerfileParser(path=str(dockerfile))
    froms = [i["value"] for i in df.structure if i["instruction"] == "FROM"]
    assert froms, "no FROM"
    for value in froms:
        image, _, stage = value.partition(" AS ")
        name, _, tag = image.split("@")[0].rpartition(":")
        assert name and tag and tag != "latest" and stage, value  # tagged (digest by make pin-images), named stage
    labels = df.labels
    for key in ("source", "version", "revision", "description"):
        assert f"org.opencontainers.image.{key}" in labels
    users = [i["value"] for i in df.structure if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users  # runs as a non-root user
    runs = " ".join(i["value"] for i in df.structure if i["instruction"] == "RUN")
    assert "--no-cache-dir" in runs and "--no-install-recommends" in runs
    assert "pip install --no-cache-dir --no-deps -e ." in runs  # the package, beside its schema
    copies = [i["value"] for i in df.structure if i["instruction"] == "COPY"]
    assert any(c.startswith("workflow/schemas") for c in copies)
    assert not any(i["instruction"] == "ADD" for i in df.structure)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_package_versions_equal_the_lock(dockerfile):
    """Every version a Dockerfile pins is the lock's; the GPU images install the lock itself, as `make setup` does
    (DeepSpeed, TensorBoard and W&B included)."""
    text, locked = dockerfile.read_text(), lock()
    pinned = pins_in(text)
    assert pinned or "install-lock.sh" in text
    for name, version in pinned.items():
        assert version == locked[name], (dockerfile, name)
    if dockerfile.parent.name in ("train", "eval"):
        assert "RUN /tmp/install-lock.sh pip /tmp/requirements.lock" in text
    assert {"deepspeed", "tensorboard", "wandb"} <= set(locked)


def test_conda_envs_equal_the_lock(tmp_path):
    """Every conda env pins what the lock pins and installs vauflow itself: the checkout, editable, through the
    variable the workflow sets (conda's pip gets the env's pip list as a requirements file, and pip expands it: no
    conda here, the pip part is run for real)."""
    locked = lock()
    for env in (REPO / "envs").glob("*.yaml"):
        pip = next(d["pip"] for d in yaml.safe_load(env.read_text())["dependencies"] if isinstance(d, dict))
        for name, version in pins_in("\n".join(pip)).items():
            assert locked.get(name) == version, (env.name, name, version)
        assert pip[-1] == "-e ${VAUFLOW_CHECKOUT}", env.name
    common = (REPO / "workflow/rules/common.smk").read_text()
    assert "os.environ.update(VAUFLOW_CHECKOUT=str(workflow.basedir))" in common
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(pip[-1] + "\n")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--no-build-isolation",
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        env=os.environ | {"VAUFLOW_CHECKOUT": str(REPO)},
        cwd=tmp_path,
        timeout=300,
    )
    assert p.returncode == 0 and "Would install vauflow" in p.stdout, p.stderr[-2000:]


def test_every_gpu_rule_runs_in_its_image():
    """GPU rules name their image from config (used with --sdm apptainer); CPU rules name a conda env, and the data
    rules (those of envs/data.yaml: synthetic data, downloads, frames, VAU-Bench, tables, VAU-Eval) the data image
    built for them."""
    rules = {}
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for m in re.finditer(r"^ *rule (\w+):\n((?: {4,}.*\n|\n)*)", smk.read_text(), re.M):
            rules[m.group(1)] = m.group(2)
    gpu_profile = yaml.safe_load((REPO / "profiles/local-gpu/config.yaml").read_text())["set-resources"]
    assert set(gpu_profile) == set(GPU_RULES)
    for rule, image in (GPU_RULES | TORCH_CPU_RULES).items():
        assert f'container:\n        config["containers"]["{image}"]' in rules[rule], rule
    data_rules = [rule for rule, body in rules.items() if "envs/data.yaml" in body]
    assert {"download", "extract_frames", "vaubench_build", "vaubench_link", "tables"} <= set(data_rules)
    for rule, body in rules.items():
        if rule not in GPU_RULES | TORCH_CPU_RULES and "shell:" in body:
            image = re.search(r'container:\n +config\["containers"\]\["data"\]', body)
            assert "conda:" in body and (image if rule in data_rules else "container:" not in body), rule
    from vauflow.plan import load_config

    images = load_config(REPO / "config.yaml")["containers"]
    assert set(images) == {"data", "train", "eval"} and all(v.startswith("docker://") for v in images.values())


def test_pin_images_adds_digests_once(tmp_path):
    """`make pin-images` with a resolver standing in for crane/skopeo: every FROM gets the digest it printed, a
    second run changes nothing, and the result is still hadolint-clean."""
    work = tmp_path / "containers"
    shutil.copytree(REPO / "containers", work)
    resolver = tmp_path / "resolve"
    resolver.write_text('#!/bin/sh\necho "sha256:$(printf %s "$1" | sha256sum | cut -c1-64)"\n')
    resolver.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "RESOLVE": str(resolver)}
    p = subprocess.run(["bash", str(work / "pin-images.sh")], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    pinned = {f: f.read_text() for f in sorted(work.glob("*/Dockerfile"))}
    for text in pinned.values():
        froms = re.findall(r"^FROM (\S+)", text, re.M)
        assert froms and all(re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", x) for x in froms), froms
    p = subprocess.run(["bash", str(work / "pin-images.sh")], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and {f: f.read_text() for f in pinned} == pinned
    assert subprocess.run(HADOLINT + list(map(str, pinned)), capture_output=True).returncode == 0
    bad = tmp_path / "bad"
    bad.write_text("#!/bin/sh\necho oops\n")
    bad.chmod(0o755)
    shutil.rmtree(work)
    shutil.copytree(REPO / "containers", work)
    p = subprocess.run(
        ["bash", str(work / "pin-images.sh")], capture_output=True, text=True, env=env | {"RESOLVE": str(bad)}
    )
    assert p.returncode == 2 and "bad digest 'oops'" in p.stderr
