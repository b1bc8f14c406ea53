"""An installed vauflow (a wheel, outside any checkout) carries the config schema and the published numbers as package
data: the CLI validates a config and renders the reference block from a folder that holds no checkout."""

import filecmp
import shutil
import subprocess
import sys

from conftest import REPO, run


def test_an_installed_vauflow_works_outside_the_checkout(tmp_path):
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    source = tmp_path / "source"
    for f in files:
        if (REPO / f).exists():  # the package data are links in a checkout: copied as links
            (source / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, source / f, follow_symlinks=False)
    assert (source / "vauflow/data/config.schema.yaml").is_symlink()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp_path / "wheel",
            source,
        ],
        timeout=300,
    )
    target = tmp_path / "site"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            target,
            *(tmp_path / "wheel").glob("*.whl"),
        ],
        timeout=300,
    )
    for name, original in (
        ("config.schema.yaml", "workflow/schemas/config.schema.yaml"),
        ("published.yaml", "workflow/report/published.yaml"),
    ):
        installed = target / "vauflow/data" / name
        assert not installed.is_symlink() and filecmp.cmp(installed, REPO / original, shallow=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(REPO / "config.yaml", elsewhere / "config.yaml")
    env = {"PYTHONPATH": str(target)}
    where = run([sys.executable, "-c", "import vauflow; print(vauflow.__file__)"], cwd=elsewhere, env_extra=env)
    assert where.stdout.strip() == str(target / "vauflow/__init__.py")
    assert (
        run(
            [sys.executable, "-m", "vauflow", "config", "check", "config.yaml"], cwd=elsewhere, env_extra=env
        ).stdout.strip()
        == "config ok"
    )
    code = (
        "from vauflow.plan import load_config; from vauflow.evaluate.tables import reference_block; "
        "print(len(reference_block(load_config('config.yaml'))))"
    )
    assert int(run([sys.executable, "-c", code], cwd=elsewhere, env_extra=env).stdout) > 10
    (elsewhere / "broken.yaml").write_text("frames: {shards: 0}\n")
    broken = run(
        [sys.executable, "-m", "vauflow", "config", "check", "config.yaml", "broken.yaml"],
        cwd=elsewhere,
        check=False,
        env_extra=env,
    )
    assert broken.returncode == 2 and "config key 'frames/shards'" in broken.stderr  # the schema is in force
