"""How many CPUs this process may use, and how many of them are idle now.

One answer for the two thread policies: RevIN's memory-bound kernels
(:mod:`sklearn_revin._threads`) and the compute-bound products of a
least-squares fit (:mod:`sklearn_revin._blas`).
"""

from __future__ import annotations

import math
import os
import sys
from functools import lru_cache

__all__ = ["idle_cpus", "read_cgroup_quota", "threads_wanting_a_cpu", "usable_cpus"]


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, int(quota)))
    return max(1, cpus)


@lru_cache(maxsize=1)
def cgroup_cpu_quota() -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max``, v1 ``cfs_quota_us``); None: none."""
    return read_cgroup_quota("/sys/fs/cgroup")


def read_cgroup_quota(root: str) -> float | None:
    """Read the CPU quota of the cgroup mounted at ``root``; None: no quota."""
    try:
        with open(os.path.join(root, "cpu.max")) as file:
            quota, period = file.read().split()[:2]
        if quota == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as file:
            quota = int(file.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as file:
            period = int(file.read())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def idle_cpus() -> int:
    """Usable CPUs minus the threads that want one besides the caller (at least 1).

    Those threads are the ones runnable now (see :func:`threads_wanting_a_cpu`):
    a process that started a second ago counts, and the caller's own past
    work does not. The 1-minute load average, used before, counted both the
    other way round: a pipeline calling ``transform`` back to back took its
    own load for another process's and dropped to one thread.
    """
    others = threads_wanting_a_cpu()
    if others is None:
        return sys.maxsize
    return max(1, usable_cpus() - others)


def threads_wanting_a_cpu(loadavg: str = "/proc/loadavg") -> int | None:
    """Runnable threads on the machine other than the caller; None where unknown.

    ``/proc/loadavg``'s fourth field counts the threads runnable now, the
    caller included. Where it cannot be read, the 1-minute load average less
    the caller.
    """
    try:
        # os.read, not open(): a third of the time, read on every call.
        descriptor = os.open(loadavg, os.O_RDONLY)
        try:
            fields = os.read(descriptor, 256).split()
        finally:
            os.close(descriptor)
        return max(0, int(fields[3].split(b"/")[0]) - 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        return None
    return max(0, math.floor(load) - 1)
