"""Data-parallel training over processes (``catlearn train --nproc N``).

Each process holds a replica of the compiled module inside torch's
``DistributedDataParallel``.  The learner's ``batch`` is the global batch:
every step, each of the N processes takes its 1/N of the same rows and DDP
averages the gradients, so N processes take the steps one process would (up
to the order of floating-point sums).  Processes are started by torch's
elastic launcher on this machine, as ``torchrun --standalone`` does; running
``torchrun --nproc-per-node N -m catlearn train FILE`` directly works too,
and so does a multi-node ``torchrun``.  Gloo connects CPU processes, NCCL
GPU ones.

>>> World().size, World().main
(1, True)
"""
from __future__ import annotations

import logging
import os
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from .core.errors import CatError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process reports, draws and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there are several processes (and so a process group)."""
        return self.size > 1


def current() -> World:
    """The world torchrun's environment variables describe (one process without them)."""
    return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                 int(os.environ.get("LOCAL_RANK", 0)))


def device_for(name: str, world: World):
    """The torch device for ``--device`` (``auto``: a GPU for each process on this
    machine if there are enough, else the CPU)."""
    import torch

    if name == "auto":
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
        name = "cuda" if torch.cuda.is_available() and torch.cuda.device_count() >= local else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise CatError("--device cuda, but torch sees no CUDA device", found=f"torch {torch.__version__}",
                           hint="use --device cpu, or install a CUDA build of torch")
        if world.local_rank >= torch.cuda.device_count():
            raise CatError(f"{world.size} processes on this machine, but it has {torch.cuda.device_count()} GPU(s)",
                           hint="NCCL needs one GPU per process: lower --nproc, or use --device cpu")
        return torch.device("cuda", world.local_rank)
    if name != "cpu":
        raise CatError(f"unknown device `{name}`", expected="auto, cpu or cuda", found=name)
    return torch.device("cpu")


@contextmanager
def joined(world: World, device):
    """Within the block, be in the process group (gloo on the CPU, NCCL on GPUs)
    if there are several processes; a group this joined is left at the end, so
    that no process exits with the group's threads still running."""
    import torch
    import torch.distributed as dist

    if not world.distributed or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=world.size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _worker(argv: list[str]) -> None:
    from .cli import main

    code = main(argv)
    if code:
        sys.exit(code)


def launch(argv: list[str], nproc: int) -> int:
    """Run ``catlearn argv`` in `nproc` processes on this machine; the worst exit code."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          start_method="spawn", monitor_interval=0.05)
    quiet = [logging.getLogger(name) for name in ("torch.distributed.elastic", "torch.multiprocessing")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:  # a failing process has printed its own error; the launcher's traceback adds nothing
        logger.setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, _worker)(argv)
    except ChildFailedError as e:
        return max((f.exitcode for f in e.failures.values() if f.exitcode > 0), default=1)
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
    return 0


def shard(rows, world: World):
    """This process's share of a batch's `rows`: every ``world.size``-th from ``world.rank``."""
    return rows[world.rank::world.size]
