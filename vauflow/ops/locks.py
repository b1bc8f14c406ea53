"""Stale Snakemake locks: after a kill -9 the lock files stay and the next run refuses to start. They are removed
only when no live Snakemake process works in this directory."""

import os
from pathlib import Path

import psutil


def live_snakemake(workdir):
    workdir = Path(workdir).resolve()
    me = os.getpid()
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmd = p.info["cmdline"] or []
            if (
                p.info["pid"] != me
                and any(Path(c).name == "snakemake" or c.endswith("/snakemake") for c in cmd[:2])
                and p.info["cwd"]
                and Path(p.info["cwd"]).resolve() == workdir
            ):
                found.append(p.info["pid"])
        except (psutil.Error, OSError):
            continue
    return found


def unlock_if_stale(workdir="."):
    """True when stale locks were removed; False when there were none or a Snakemake run is alive."""
    locks = Path(workdir) / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return False
    if live_snakemake(workdir):
        return False
    for f in locks.iterdir():  # what `snakemake --unlock` removes; it needs the Snakefile, we do not
        f.unlink()
    return True


def main(a):
    """`vauflow unlock-stale`."""
    if unlock_if_stale(a.directory):
        print("vauflow: removed stale Snakemake locks (no Snakemake process is running here)")
