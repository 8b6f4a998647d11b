"""Data-parallel training with PyTorch's own engine: ``torchrun`` + ``DistributedDataParallel`` (DDP).

    torchrun --nproc_per_node 2 -m wildhands.train --config config/train/paper_resnet50_gpu.yaml
    wildhands train --nproc 2 --config ...          # the same, one machine, rendezvous on 127.0.0.1

torchrun starts one process per GPU (or per CPU share) and tells each who it is through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); :func:`setup` joins that
process group: NCCL when the config's device is CUDA (each process on ``cuda:LOCAL_RANK``), gloo on the CPU.
Several machines: the same command on each with torchrun's rendezvous flags (``--nnodes``,
``--node_rank`` / ``--rdzv_backend c10d --rdzv_endpoint HOST:PORT --rdzv_id JOB``), see
docs/training-cluster.md.

How a global batch is shared out (our ``DistributedSampler``). A step's batch of ``optim.batch_size`` slots
is a pure function of ``(seed, step)``: slot ``i`` draws its source, record and augmentation from
``np.random.default_rng([seed, step, i])`` (see ``wildhands.train.trainer``). So there are no epochs to
shuffle: every step is a fresh weighted draw with replacement, and the step number plays the role of
``DistributedSampler.set_epoch``. The ``W * A`` micro-batches of a step (``W`` processes,
``A = optim.accumulate`` accumulation steps) are the strided slot sets ``m::W*A``; process ``r`` builds
micro-batches ``m = r*A .. r*A + A-1`` only, and dropout inside micro-batch ``m`` draws from
``torch.manual_seed(f(seed, step, m))``. Hence runs with the same ``W * A`` see the same micro-batches
(BatchNorm statistics included) and reach the same parameters up to floating-point rounding: 2 processes x
accumulate 1 = 1 process x accumulate 2. Runs with another ``W * A`` see the same global batch, split
differently: only BatchNorm's batch statistics (per micro-batch, per process; no SyncBatchNorm) and
rounding differ. BatchNorm's running statistics (used in evaluation) follow rank 0's micro-batches:
DDP broadcasts rank 0's buffers at every forward pass.

Only rank 0 writes (train.log, history.jsonl, TensorBoard, checkpoints, curves) and evaluates; the
checkpoint holds the unwrapped model, so any number of processes resumes it. Rank 0 reads checkpoints and
``init_from`` weights and sends them to the others: with several machines only rank 0's needs the files.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: rank ``rank`` of ``world_size`` (one process: 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    #: the process group was created by :func:`setup` (and is destroyed by :func:`cleanup`)
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """Whether this process is one of several that torchrun (or another launcher) started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str) -> DistInfo:
    """Join the process group: the one already initialised (e.g. by a test or a notebook), else the one the
    environment describes (torchrun: ``WORLD_SIZE`` > 1, ``env://`` rendezvous), else none (one process)."""
    if dist.is_available() and dist.is_initialized():
        rank = dist.get_rank()
        return DistInfo(
            rank=rank,
            world_size=dist.get_world_size(),
            local_rank=int(os.environ.get("LOCAL_RANK", rank)),
            backend=str(dist.get_backend()),
        )
    if not launched_by_torchrun():
        return DistInfo()
    if not dist.is_available():  # pragma: no cover - every official build has it
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    cuda = device.startswith("cuda")
    backend = "nccl" if cuda else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s): --nproc_per_node must "
                "not exceed the GPUs of a machine"
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, backend, owns_group=True)


def cleanup(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def micro_batches(
    batch_size: int, world_size: int, rank: int, accumulate: int
) -> list[tuple[int, list[int]]]:
    """``[(m, slots)]``: the micro-batches process ``rank`` builds, each with its index ``m`` in
    ``0 .. world_size*accumulate - 1`` and its slots of the global batch (``m::world_size*accumulate``)."""
    n = world_size * accumulate
    if batch_size < n:
        raise ValueError(
            f"optim.batch_size={batch_size} is smaller than processes ({world_size}) x optim.accumulate "
            f"({accumulate}): every micro-batch needs a sample"
        )
    return [(m, list(range(m, batch_size, n))) for m in range(rank * accumulate, (rank + 1) * accumulate)]


def micro_seed(seed: int, step: int, micro: int) -> int:
    """The torch seed of micro-batch ``micro`` of ``step`` (dropout), the same whichever process runs it."""
    return int(np.random.SeedSequence([seed, step, micro, 0x7D]).generate_state(1, np.uint64)[0] >> 1)


def _device(info: DistInfo) -> torch.device:
    return torch.device("cuda", info.local_rank) if info.backend == "nccl" else torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(info: DistInfo) -> None:
    if info.enabled:
        if info.backend == "nccl":
            dist.barrier(device_ids=[info.local_rank])
        else:
            dist.barrier()


def from_rank0(info: DistInfo, fn, *args: Any) -> Any:
    """``fn(*args)`` evaluated on rank 0 and sent to every rank; an exception there is raised on every rank
    (its own type on rank 0, ``RuntimeError`` naming it elsewhere) instead of leaving the others waiting."""
    if not info.enabled:
        return fn(*args)
    box: list[Any] = [None]
    error: BaseException | None = None
    if info.is_main:
        try:
            box[0] = ("ok", fn(*args))
        except Exception as exc:  # sent to the other ranks, then raised here too
            error = exc
            box[0] = ("error", f"{type(exc).__name__}: {exc}")
    dist.broadcast_object_list(box, src=0, device=_device(info) if info.backend == "nccl" else None)
    status, value = box[0]
    if status == "error":
        if error is not None:
            raise error
        raise RuntimeError(f"rank 0 failed: {value}")
    return value


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a one-machine rendezvous)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun_command(
    nproc: int, worker_args: list[str], master_port: int | None = None, script: str | None = None
) -> list[str]:
    """The torchrun command line of a one-machine run of ``nproc`` processes, rendezvous on 127.0.0.1, of
    ``python -m wildhands.train`` (or of the file ``script``) with ``worker_args``."""
    target = ["-m", "wildhands.train"] if script is None else [script]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        str(nproc),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(master_port or free_loopback_port()),
        *target,
        *worker_args,
    ]


def loopback_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with gloo kept on the loopback interface (Linux ``lo``) unless
    ``GLOO_SOCKET_IFNAME`` is already set: gloo otherwise binds the address the host name resolves to."""
    env = dict(os.environ if env is None else env)
    if "GLOO_SOCKET_IFNAME" not in env and os.path.exists("/sys/class/net/lo"):
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env
