"""CPU threads: the one place that decides how many threads each runtime of a frame uses, set once.

A frame runs up to three runtimes in turn, on one thread of control: LiteRT (the palm and hand-landmark
networks), torch (the lifting head and the hand layer; the image model with engine ``torch``) and ONNX
Runtime (the image model with engine ``onnxruntime``). As they take turns, each may use every core, as
long as none keeps the cores busy after its turn (ONNX Runtime's sessions turn their spin-waiting off;
LiteRT's and torch's pools sleep after a short spin), and as long as no OTHER process holds a core.

numpy's BLAS is the fourth runtime: the landmark estimator's fit (refinement, PnP, rotations) calls it on
small matrices between the networks' turns. OpenBLAS (numpy's and scipy's wheels each bundle one) runs a
call on all cores when its matrices are large enough, and then its workers spin for a while waiting for the
next call: on a 2-core machine they take a core from the next frame's LiteRT passes. Measured
(``bench/thread_contention.py``, section 3: MediaPipe's detector right after the fit of the previous frame):
the detector takes x1.8 as long behind numpy's BLAS on all cores as behind one thread, and the fit is
no slower on one. So numpy's BLAS gets one thread (:func:`apply_blas_threads`, through ``threadpoolctl``;
every BLAS loaded but torch's own, which torch's thread count governs; without ``threadpoolctl``, a warning
says to set ``OPENBLAS_NUM_THREADS=1`` before numpy is imported).

A busy core is what hurts (``bench/thread_contention.py`` -> ``bench/results/thread_contention.json``,
2-core machine, one other process spinning on a core): torch's OpenMP team as large as the machine waits
at every barrier for the thread that lost its core, and the image model's crop goes from 13 ms to 39 ms
(x3.0); on one thread it stays at 19-20 ms. ONNX Runtime loses less (8.3 -> 10.6 ms). The landmark
estimator's fit (lifting head + refinement + hand layer, 2 hands) is as fast on 1 torch thread as on 2
on a quiet machine (10.2 vs 10.3 ms) and 1.27x faster beside a busy core. Hence the plan
(:func:`plan_threads`): LiteRT and ONNX Runtime get ``threads`` cores; torch gets them only when it runs
the image model, else one thread; numpy's BLAS one thread. It is set once, when a pipeline is built, never
per frame (the pipeline used to switch torch between 1 and all threads around its hand layer on every
call).

The 842 ms per crop recorded for the torch engine in ``bench/results/pipeline.json`` (2026-11-25; 35 ms
alone) was such a run: ``other_processes_cores`` ~1.05 in every block, i.e. another process held one of
the two cores throughout; the simple spinner here reproduces a x3 loss, not that run's x24, whose other
load is not known.

On a Jetson (6-12 Arm cores) or a desktop: ``threads`` = the cores you give the node (0 = all it may run
on). With other busy processes on the machine (a planner, a camera driver), give it fewer cores than
there are, so that no OpenMP barrier waits for a core someone else holds, and pin it with ``taskset`` to
those cores for the steadiest latency. With the landmark estimator (the default) torch stays on one
thread whatever ``threads`` says.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = [
    "ThreadPlan",
    "available_cores",
    "plan_threads",
    "apply_torch_threads",
    "apply_blas_threads",
    "blas_threads",
]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; ``os.cpu_count()`` where that is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    """Threads per runtime. litert: palm/landmark networks; torch: torch's intra-op pool (set process-wide);
    onnxruntime: the image model's session; blas: numpy's (and scipy's) BLAS (set process-wide)."""

    litert: int
    torch: int
    onnxruntime: int
    blas: int = 1


def plan_threads(threads: int = 0, estimator: str = "landmarks", engine: str = "onnxruntime") -> ThreadPlan:
    """The plan for a pipeline: ``threads`` cores (0 = :func:`available_cores`) for LiteRT and ONNX Runtime;
    torch gets them only when it runs the image model (``estimator='image'``, ``engine='torch'``), else 1;
    numpy's BLAS always 1 (module docstring)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads={threads!r} must be an int >= 0")
    cores = threads or available_cores()
    torch_threads = cores if (estimator == "image" and engine == "torch") else 1
    return ThreadPlan(litert=cores, torch=torch_threads, onnxruntime=cores, blas=1)


def apply_torch_threads(n: int) -> None:
    """Set torch's intra-op threads to ``n`` (process-wide) unless they already are: called when a pipeline
    is built, never per frame."""
    import torch

    if torch.get_num_threads() != n:
        logger.debug("torch intra-op threads %d -> %d", torch.get_num_threads(), n)
        torch.set_num_threads(n)


_blas_warned = False


def _blas_controllers(warn: bool = False) -> list | None:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process but torch's own (torch's
    threads are :func:`apply_torch_threads`' business); None (and with ``warn`` one warning per process)
    where ``threadpoolctl`` is not installed."""
    global _blas_warned
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        if warn and not _blas_warned:
            logger.warning(
                "threadpoolctl is not installed: numpy's BLAS keeps its threads, which can slow the hand "
                "detector down (pip install threadpoolctl, or set OPENBLAS_NUM_THREADS=1 before starting)"
            )
            _blas_warned = True
        return None
    torch_dir = _package_dir("torch")
    return [
        lib
        for lib in ThreadpoolController().lib_controllers
        if lib.user_api == "blas"
        and not (torch_dir and os.path.realpath(lib.filepath).startswith(torch_dir + os.sep))
    ]


def _package_dir(name: str) -> str | None:
    """The real path of an installed package's folder, without importing it; None where not installed."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return os.path.realpath(locations[0]) if locations else None


def blas_threads() -> list[int] | None:
    """The thread counts of the BLAS libraries :func:`apply_blas_threads` sets (numpy's, scipy's: every
    BLAS loaded but torch's); None without ``threadpoolctl``. Recorded by the benches (``machine_facts``)."""
    libs = _blas_controllers()
    return None if libs is None else [int(lib.num_threads) for lib in libs]


def apply_blas_threads(n: int) -> bool:
    """Set the BLAS libraries loaded in this process but torch's (numpy's and scipy's OpenBLAS; MKL, BLIS
    alike) to ``n`` threads, process-wide, unless they already are: called when a pipeline is built, before
    torch's threads are set (an OpenMP build of OpenBLAS sets the OpenMP thread count too), never per
    frame. True where at least one such library was found; False without one (debug log) or without
    ``threadpoolctl`` (one warning per process)."""
    libs = _blas_controllers(warn=True)
    if libs is None:
        return False
    if not libs:
        logger.debug("no BLAS library visible to threadpoolctl: nothing to limit")
        return False
    for lib in libs:
        if lib.num_threads != n:
            logger.debug("BLAS %s threads %d -> %d", lib.filepath, lib.num_threads, n)
            lib.set_num_threads(n)
    return True
