"""Resident memory of this process, for the benchmarks (Linux).

The peak is ``VmHWM`` of ``/proc/self/status``, not ``ru_maxrss``: after
fork and exec, ``ru_maxrss`` keeps the forking parent's peak (a benchmark
driver's, or a whole pytest session's), while ``VmHWM`` belongs to the new
process's memory map alone. Elsewhere both fall back on ``ru_maxrss``.

The benchmarks measure in subprocesses started with ``benchmarks/`` on their
``PYTHONPATH`` (``from _memory import peak_rss_bytes``); dask workers get
these functions by value (see :func:`for_dask_workers`).
"""

from __future__ import annotations

import os
import resource


def peak_rss_bytes() -> int:
    """Return this process's peak resident memory in bytes (VmHWM)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_bytes() -> int:
    """Return this process's resident memory now, in bytes."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


def for_dask_workers() -> None:
    """Pickle this module's functions by value, so workers need not import it."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))
