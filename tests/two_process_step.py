"""Run by the `*two_processes*` tests under torchrun: train a few steps on N processes and write the weight change.

    python -m torch.distributed.run --nproc_per_node N tests/two_process_step.py STAGE WORKDIR OUT JSON_OVERRIDES

STAGE grpo: our loop (rewards replaced by one that varies within a group: a random tiny model earns none).
STAGE sft: vauflow.sft.train under TRL/accelerate. OUT gets {name: Δw, grad:name: the last step's gradient} from
rank 0."""

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))


def grpo(workdir, over):
    from test_grpo import make_trainer

    import vauflow.grpo.loop as loop

    loop.rewards_for = lambda rows, texts: ({}, [float(len(t) % 3) for t in texts])
    steps = over.pop("steps")
    trainer = make_trainer(workdir, **over)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    for step in range(steps):
        trainer.train_step(step)
    after = dict(trainer.model.named_parameters())
    # Adam's first steps move every weight by about ±lr whatever the gradient's size: the last step's (summed,
    # clipped) gradients are compared too; sharded (FSDP) tensors are gathered whole on every process
    return trainer.rank, (
        {n: (loop.full(after[n].detach()) - loop.full(w)) for n, w in before.items()}
        | {f"grad:{n}": loop.full(after[n].grad.detach()).clone() for n in before}
    )


def gathers(workdir, over):
    """All-gathers (FSDP2 calls all_gather_single) during one rollout under FSDP: with the weights gathered once (the
    loop's way) and, as the control, left to FSDP's per-forward hooks (once per generated token)."""
    import contextlib

    import torch.distributed as dist
    from test_grpo import make_trainer

    import vauflow.grpo.loop as loop

    calls = {"n": 0}
    real = dist.all_gather_single

    def counting(*args, **kw):
        calls["n"] += 1
        return real(*args, **kw)

    dist.all_gather_single = counting
    trainer = make_trainer(workdir, **over)
    rows = [r for _, r in trainer.local_prompts(0)]
    counts = {}
    for how, ctx in (("once", loop.gathered), ("per_token", lambda model, sharded: contextlib.nullcontext())):
        loop.gathered, calls["n"] = ctx, 0
        _, completions = trainer.rollout(rows, 0)
        counts[how] = calls["n"]
        counts[f"{how}_tokens"] = max(len(c) for c in completions)
    return trainer.rank, counts


def sft(workdir, over):
    from transformers import TrainerCallback

    from vauflow.plan import sft_params
    from vauflow.processes import world_size
    from vauflow.sft.train import train

    from conftest import smoke_config

    params = sft_params(smoke_config(), "qa") | over
    deltas = {}

    class Delta(TrainerCallback):  # the weights before the first step and after the last, the last step's gradient
        def on_train_begin(self, args, state, control, model=None, **kw):
            deltas.update({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})

        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            deltas.update(
                {
                    f"grad:{n}": p.grad.detach().clone()
                    for n, p in model.named_parameters()
                    if n in deltas and p.grad is not None
                }
            )

        def on_train_end(self, args, state, control, model=None, **kw):
            for n, p in model.named_parameters():
                if n in deltas:
                    deltas[n] = p.detach() - deltas[n]

    data = {"vau": workdir / "results/vaubench/linked", "ball": workdir / "results/ball/linked"}
    out = Path(os.environ["TWO_PROCESS_TMP"])
    train(
        "qa",
        ["qa"],
        workdir / "resources/models/tiny",
        data,
        out / f"model-{world_size()}",
        out / f"ckpt-{world_size()}",
        params,
        smoke_config()["frames"]["budgets"]["train"],
        callbacks=[Delta()],
    )
    return int(os.environ.get("RANK", "0")), deltas


def run_steps(workdir, tmp_path, stage, processes, tag, **over):
    """Δw and last gradients of a few training steps on `processes` CPU processes (torchrun, gloo)."""
    import subprocess

    from conftest import env

    out = tmp_path / f"{tag}.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(processes),
        "--master_port",
        str(29500 + os.getpid() % 1000 + processes),
        __file__,
        stage,
        str(workdir),
        str(out),
        json.dumps(over),
    ]
    p = subprocess.run(
        cmd,
        env=env() | {"OMP_NUM_THREADS": "1", "TWO_PROCESS_TMP": str(tmp_path / tag)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return torch.load(out)


def relative_gap(a, b, prefix=""):
    """‖Δa − Δb‖ / ‖Δb‖ over every trainable tensor (`prefix` "grad:": their last gradients instead)."""
    names = sorted(n for n in b if n.startswith(prefix) and (prefix or not n.startswith("grad:")))
    assert names, f"no {prefix or 'weight'} entries"
    da, db = (torch.cat([d[n].flatten().double() for n in names]) for d in (a, b))
    return float(torch.linalg.norm(da - db) / torch.linalg.norm(db))


def compare(workdir, tmp_path, stage, **over):
    """(Δw gap, gradient gap) of two processes against one on the same global batch, and the same for the control
    (one process on half the batch)."""
    one = run_steps(workdir, tmp_path, stage, 1, "one", **over)
    two = run_steps(workdir, tmp_path, stage, 2, "two", **over)
    half = run_steps(workdir, tmp_path, stage, 1, "half", **over | {"effective_batch": over["effective_batch"] // 2})
    return (
        (relative_gap(two, one), relative_gap(two, one, "grad:")),
        (relative_gap(half, one), relative_gap(half, one, "grad:")),
    )


if __name__ == "__main__":
    stage, workdir, out, over = sys.argv[1], Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    rank, delta = {"grpo": grpo, "sft": sft, "gathers": gathers}[stage](workdir, over)
    if rank == 0:
        torch.save(delta, out)
