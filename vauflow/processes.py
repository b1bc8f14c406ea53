"""Several processes of one job (vauflow launch --gpus N, accelerate or torchrun set RANK / WORLD_SIZE): the process
group, its device, and the few collectives GRPO and evaluation need. One process: no group, nothing to wait for."""

import os


def world_size():
    """Processes of this job (torchrun / accelerate set WORLD_SIZE; 1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def start_processes():
    """(rank, world size, device): `cuda:<local rank>` when CUDA is there, else the CPU (gloo between processes)."""
    import torch

    world = world_size()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    if world == 1:
        return 0, 1, device
    import torch.distributed as dist

    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        import datetime

        # the other processes wait in barriers while the main one writes a checkpoint or the export (tens of GB for
        # a 3B model's masters and Adam state): longer than NCCL's default 10 minutes on a slow shared filesystem
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=datetime.timedelta(hours=2))
    return dist.get_rank(), world, device


def all_sum(values):
    """Integers summed over the processes."""
    if world_size() == 1:
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=collective_device())
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


def collective_device():
    """Where a tensor for a collective lives: the GPU under NCCL, the CPU under gloo."""
    import torch
    import torch.distributed as dist

    return f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"


def barrier(world):
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def gather(obj, world):
    """Every process's `obj`, in rank order."""
    if world == 1:
        return [obj]
    import torch.distributed as dist

    out = [None] * world
    dist.all_gather_object(out, obj)
    return out
