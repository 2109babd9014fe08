"""How many CPU threads RevIN's own kernels use, chosen per call and scoped to it.

RevIN reads and writes each value once or twice: the work is memory bound, and
on a small machine one thread already saturates the memory bus. A second
thread then buys nothing, and as soon as another process wants a core (a CI
runner, a dask worker with several threads, a joblib-parallel
cross-validation) every parallel region waits on a descheduled OpenMP thread:
on the 2-core benchmark machine ``transform`` took 11x to 36x a copy with
torch's default two threads and another busy process, against 2.1x with one.

:func:`kernel_threads` picks the thread count for one call of a memory-bound
kernel: at most what the caller allows (``torch.set_num_threads``,
threadpoolctl's OpenMP limits, ``OMP_NUM_THREADS`` as set by joblib's worker
processes, a dask worker's share of the cores, the CPU affinity and a cgroup
CPU quota), at most half the usable cores (memory bandwidth saturates well
before every core is busy, and hyper-threads share a core's load units), no
more than the cores idle now (:func:`sklearn_revin._cpus.idle_cpus`), and
one per :data:`BYTES_PER_THREAD` of data, so that small calls never open a
parallel region. :func:`scoped_threads` applies it for the length of a
``with`` block and restores torch's setting after, whatever happens inside.

:func:`pool_threads` is the count for the optional fused kernel
(:mod:`sklearn_revin._fused`), whose plain worker threads block instead of
spinning: the same limits without the cap at half the cores, since a
descheduled worker delays its own rows only.

Why ``torch.set_num_threads`` and not ``threadpoolctl.threadpool_limits`` for
the scoping: entering ``threadpool_limits`` enumerates the loaded libraries
(about 1 ms on the benchmark machine, more than a small ``transform``), and it
would limit libraries RevIN does not call (BLAS). threadpoolctl is used to
*read* the caller's limits, through one cached controller (about 1 us a
read), because torch's own count does not always show them: torch resets a
thread's OpenMP count on its first parallel call, so a
``threadpool_limits(1)`` entered before that is visible to threadpoolctl and
not to ``torch.get_num_threads()``.

OpenMP's thread count is per calling thread, so scoping it in one thread does
not change another thread's; torch also keeps one process-wide default that a
thread reads on its first parallel call, which a scope restores on exit.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import torch

from . import _cpus

__all__ = [
    "BYTES_PER_THREAD",
    "POOL_BYTES_PER_THREAD",
    "kernel_threads",
    "pool_threads",
    "scoped_threads",
]

# Data per thread below which another thread costs more (waking it, the
# parallel region's barrier) than it saves on a memory-bound pass.
BYTES_PER_THREAD = 64 * 2**20
# The same for the fused kernel's worker threads: starting one costs tens of
# microseconds, and a worker that is descheduled blocks its share only.
POOL_BYTES_PER_THREAD = 8 * 2**20


def kernel_threads(n_bytes: int, device: torch.device | str = "cpu") -> int:
    """Return the number of threads for a memory-bound pass over ``n_bytes``.

    Parameters
    ----------
    n_bytes : int
        Bytes the kernel reads.
    device : torch.device or str, default="cpu"
        Where the data lives; other devices than the CPU get torch's current
        count (no CPU kernel runs).

    Returns
    -------
    threads : int
        At least 1, at most ``torch.get_num_threads()``.
    """
    current = torch.get_num_threads()
    if torch.device(device).type != "cpu":
        return current
    cap = min(
        current,
        _caller_limit(),
        max(1, _cpus.usable_cpus() // 2),
        getattr(_scope, "idle_cpus", None) or _cpus.idle_cpus(),
        max(1, n_bytes // BYTES_PER_THREAD),
    )
    return max(1, cap)


def pool_threads(n_bytes: int) -> int:
    """Return the number of worker threads for the fused kernel over ``n_bytes``.

    The fused kernel (:mod:`sklearn_revin._fused`) splits rows between plain
    threads that block when they are done, where OpenMP's threads spin: one
    thread per core that is idle now, within what the caller allows, without
    :func:`kernel_threads`'s cap at half the cores. A memory-bound pass
    still gains from a second thread where its output is fresh memory: the
    page faults that supply it are per-thread CPU work (on the 2-core
    benchmark machine a 200 MB float32 ``transform`` took 42 ms on one
    thread and 25 ms on two, against 24 ms for ``numpy.copy``).

    Parameters
    ----------
    n_bytes : int
        Bytes the kernel reads.

    Returns
    -------
    threads : int
        At least 1, at most ``torch.get_num_threads()``.
    """
    cap = min(
        _caller_threads(),
        _cpus.usable_cpus(),
        getattr(_scope, "idle_cpus", None) or _cpus.idle_cpus(),
        max(1, n_bytes // POOL_BYTES_PER_THREAD),
    )
    return max(1, cap)


@contextmanager
def scoped_threads(n_bytes: int, device: torch.device | str = "cpu") -> Iterator[int]:
    """Run the body with :func:`kernel_threads` threads; restore torch's count after.

    Yields the thread count in effect. Nothing is changed when that count is
    torch's current one (or when the data is not on the CPU).
    """
    previous = torch.get_num_threads()
    outer = getattr(_scope, "caller_threads", None)
    if outer is None:
        # Read before the scope changes them (set_num_threads sets OpenMP's
        # count, which threadpoolctl then reports): pool_threads's cap.
        _scope.caller_threads = min(previous, _caller_limit())
        _scope.idle_cpus = _cpus.idle_cpus()  # one read of /proc/loadavg a call
    threads = kernel_threads(n_bytes, device)
    try:
        if threads == previous:
            yield threads
            return
        torch.set_num_threads(threads)
        try:
            yield threads
        finally:
            torch.set_num_threads(previous)
    finally:
        if outer is None:
            del _scope.caller_threads, _scope.idle_cpus


# The caller's thread limits and the idle CPUs as they were when this thread
# entered its outermost scoped_threads block.
_scope = threading.local()


# ------------------------------------------------------------------ internals


def _caller_threads() -> int:
    """Return the threads the caller allows: torch's count and the limits it set."""
    within_scope = getattr(_scope, "caller_threads", None)
    if within_scope is not None:
        return within_scope
    return min(torch.get_num_threads(), _caller_limit())


def _caller_limit() -> int:
    """Return the smallest OpenMP limit threadpoolctl sees and a dask worker's share."""
    limit = math.inf
    for controller in _openmp_controllers():
        threads = controller.get_num_threads()
        if threads is not None and threads > 0:
            limit = min(limit, threads)
    share = _dask_worker_share()
    if share is not None:
        limit = min(limit, share)
    return int(limit) if math.isfinite(limit) else sys.maxsize


@lru_cache(maxsize=1)
def _openmp_controllers() -> tuple:
    """Return threadpoolctl's controllers of the loaded OpenMP runtimes."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - installed with scikit-learn
        return ()
    controller = ThreadpoolController()
    return tuple(c for c in controller.lib_controllers if c.user_api == "openmp")


def _dask_worker_share() -> int | None:
    """Cores per worker thread when running in a ``distributed`` worker, else None.

    Each of a worker's threads may run a task at the same time; a task that
    took every core would fight the others.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except (ValueError, AttributeError):
        return None
    nthreads = getattr(getattr(worker, "state", worker), "nthreads", None)
    if not nthreads:
        return None
    return max(1, _cpus.usable_cpus() // int(nthreads))
