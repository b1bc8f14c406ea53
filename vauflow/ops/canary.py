"""GPU canary: does the job see the GPUs Snakemake asked for? The SLURM executor plugin has shown a job asking for 2
GPUs and seeing 1 (snakemake-executor-plugin-slurm #459), and Snakemake never sets CUDA_VISIBLE_DEVICES itself.
The canary reads what the scheduler allocated (`scontrol show job -d`), what the job can see
(CUDA_VISIBLE_DEVICES, and CUDA's device count where torch sees a GPU), and fails loudly on any mismatch."""

import os
import re
import subprocess


def slurm_allocated_gpus(job_id):
    """GPUs SLURM allocated to the job: the count in its GRES / TRES detail lines."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-d", str(job_id)], capture_output=True, text=True, check=True
    ).stdout
    counts = [int(n) for n in re.findall(r"\bGRES=gpu(?::[\w.-]+)?:(\d+)", out)]
    if counts:
        return sum(counts), out
    m = re.search(r"AllocTRES=\S*gres/gpu=(\d+)", out)
    return (int(m.group(1)) if m else 0), out


def visible_devices():
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return [d for d in value.split(",") if d.strip() and d.strip() != "-1"]


def check(expected):
    """{"expected", "slurm_job", "slurm_allocated", "cuda_visible_devices", "cuda_device_count"}; raises
    RuntimeError naming every mismatch."""
    report, problems = {"expected": expected}, []
    job = os.environ.get("SLURM_JOB_ID")
    report["slurm_job"] = job
    if job:
        allocated, _ = slurm_allocated_gpus(job)
        report["slurm_allocated"] = allocated
        if allocated != expected:
            problems.append(f"SLURM allocated {allocated} GPU(s) to job {job}, the rule asked for {expected}")
    visible = visible_devices()
    report["cuda_visible_devices"] = visible
    count = None
    try:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else None
    except ImportError:
        pass
    report["cuda_device_count"] = count
    if job:  # inside an allocation: exactly what was asked for, and nothing else, is visible
        if expected > 0 and (visible is None or len(visible) != expected):
            problems.append(
                f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r} shows "
                f"{'no' if visible is None else len(visible)} device(s), expected {expected}"
            )
        if count is not None and count != expected:
            problems.append(f"CUDA sees {count} device(s), expected {expected}")
    else:  # a local run: the launcher uses the first N of what the machine has
        seen = len(visible) if visible is not None else (count or 0)
        if seen < expected:
            problems.append(f"this machine shows {seen} GPU(s), the rule asked for {expected}")
    if problems:
        raise RuntimeError("GPU canary: " + "; ".join(problems))
    return report


def main(a):
    """`vauflow gpu-canary`."""
    import json

    from vauflow.io import UsageError, write_json

    try:
        report = check(a.expected)
    except RuntimeError as e:
        raise UsageError(str(e)) from None
    write_json(a.out, report)
    print(json.dumps(report))
