"""How many BLAS threads the Gram products of a least-squares fit use.

The sufficient statistics of :mod:`sklearn_revin._sufficient_statistics` are
compute bound (``X^T W X`` and ``X^T W Y`` of every chunk), unlike RevIN's
own memory-bound passes (:mod:`sklearn_revin._threads`). OpenBLAS's default
is one thread per core, and its threads spin while they wait: where the cores
are already busy (dask's worker threads each calling BLAS, another process
on a shared machine) the products took two to three times the CPU time and
the wall time of one thread, on the 2-core benchmark machine.

:func:`blas_threads` is the count for a fit in this thread: the usable cores
that the load average leaves idle (as RevIN's own kernels do), and one in a
worker thread. :func:`dask_task_threads` is the count per task of a dask
computation started from this process: the cores divided among dask's
threads. :func:`limited_blas` applies a count, through threadpoolctl, for
the length of a ``with`` block.

OpenBLAS's count is one setting for the whole process, and a count set from
a thread other than the main one did not hold (threadpoolctl 3.8, OpenBLAS
0.3.31: the thread read back its old count and ran with it). So
:func:`limited_blas` changes it from the main thread only, and the caller of
a dask computation sets it, for every task, before the tasks start; nested
blocks keep the outer count.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from . import _cpus
from ._dask import current_client

__all__ = ["blas_threads", "dask_task_threads", "limited_blas"]

_holders = 0
_previous: list = []


def blas_threads() -> int:
    """Return the BLAS thread count for compute-bound products in this thread."""
    if threading.current_thread() is not threading.main_thread():
        return 1
    return min(_cpus.usable_cpus(), _cpus.idle_cpus())


def dask_task_threads() -> int:
    """Return the BLAS threads per task of a dask computation started here.

    The usable cores divided by the threads that run tasks: a
    ``distributed`` client's workers (their threads, all together), or the
    local scheduler's ``num_workers`` (all cores by default; one for the
    synchronous scheduler).
    """
    usable = _cpus.usable_cpus()
    client = current_client()
    if client is not None:
        return max(1, usable // max(1, sum(client.nthreads().values())))
    import dask

    if dask.config.get("scheduler", None) in ("sync", "synchronous", "single-threaded"):
        return usable
    workers = dask.config.get("num_workers", None) or usable
    return max(1, usable // int(workers))


@contextmanager
def limited_blas(threads: int) -> Iterator[None]:
    """Run the body with at most ``threads`` BLAS threads (from the main thread)."""
    global _holders, _previous
    if threading.current_thread() is not threading.main_thread():
        yield  # set by the caller that started this thread's work
        return
    if _holders == 0:
        libraries = _blas_libraries()
        _previous = [library.get_num_threads() for library in libraries]
        for library, count in zip(libraries, _previous, strict=True):
            if count is not None and count > threads:
                library.set_num_threads(threads)
    _holders += 1
    try:
        yield
    finally:
        _holders -= 1
        if _holders == 0:
            for library, count in zip(_blas_libraries(), _previous, strict=True):
                if count is not None:
                    library.set_num_threads(count)


@lru_cache(maxsize=1)
def _blas_libraries() -> tuple:
    """Return threadpoolctl's controllers of the loaded BLAS libraries (once).

    Enumerating the loaded libraries costs about 1 ms: once per process.
    """
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    return tuple(c for c in controller.lib_controllers if c.user_api == "blas")
