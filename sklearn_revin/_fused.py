"""An optional fused CPU kernel for RevIN: one read and one write of the data.

With numba installed (``pip install sklearn-revin[fast]``), each window
(a row of ``T`` values) is normalized in two loops over the row while it sits
in the L1 cache: the first sums ``x - x[0]`` and its square in float64, the
second writes ``(x - loc) * factor + shift`` in the data's precision, with
``loc`` rounded to it and the rounding moved into the small per-row
``shift`` (float32 windows far from zero stay exact to a unit or two in the
last place, at float32 speed). The statistics are written straight into the
caller's arrays, in the dtype the caller keeps them in: the data crosses the
memory bus once each way, plus one write of the statistics. Torch's blocked
path (:mod:`sklearn_revin._functional`), the fallback without numba, makes six
passes over cache-sized blocks.

Accuracy: the sums are taken about the window's first value in float64, so
float32 windows far from zero keep their precision (the variance formula
``E[d**2] - E[d]**2`` loses digits only when the first value is many standard
deviations away from the mean, ~1e4 std for one float32 digit). A window
with NaN is summed again over its observed values (about the first of them),
as the general path does, and its NaN stay NaN in the output: data with gaps
stays on the fast path. Windows with nothing observed, an infinity or an
overflow get a NaN ``loc`` and are counted; the caller redoes them with the
general path, which gives them NaN statistics or raises.

The kernels are compiled on first use for each dtype (a second or two; numba
caches them on disk). Rows are independent, so splitting them between threads
gives the same bits whatever the thread count.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch

__all__ = ["available", "fused_denormalize", "fused_rows"]

_EPS_MODES = {"clamp": 0, "add": 1, "add_std": 2}

# Chunks of rows per thread: enough that a descheduled thread holds up a small
# part of the call, few enough that a call makes tens of kernel calls, not
# thousands (each costs a few microseconds).
CHUNKS_PER_THREAD = 8


@lru_cache(maxsize=1)
def _kernels():
    """Return the compiled kernels, or None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
    def observed_sums(row):
        """Return count, first, last, sum(d) and sum(d**2) of the non-NaN values.

        ``d`` is a value minus the first non-NaN value of ``row``. The sums
        select instead of branching, so that the loop is vectorized.
        """
        n_steps = row.shape[0]
        start = 0
        while start < n_steps and row[start] != row[start]:
            start += 1
        if start == n_steps:
            return 0, np.nan, np.nan, 0.0, 0.0
        stop = n_steps - 1
        while row[stop] != row[stop]:
            stop -= 1
        first = np.float64(row[start])
        count = 0.0
        s1 = 0.0
        s2 = 0.0
        for t in range(start + 1, stop + 1):
            value = np.float64(row[t])
            observed = value == value
            d = value - first if observed else 0.0
            count += 1.0 if observed else 0.0
            s1 += d
            s2 += d * d
        return int(count) + 1, first, np.float64(row[stop]), s1, s2

    @numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
    def rows_kernel(
        x,
        out,
        gamma,
        beta,
        eps,
        eps_mode,
        last,
        write,
        limit,
        loc,
        scale,
        variance,
    ):
        n_rows, n_steps = x.shape
        n_variates = gamma.shape[0]
        keep_variance = variance.shape[0] > 0
        cast = x.dtype.type
        # Per-row costs matter for short windows: no integer modulo, and
        # multiplications by 1/n instead of divisions.
        inv_n = 1.0 / n_steps
        flagged = 0
        v = 0
        for r in range(n_rows):
            x0 = np.float64(x[r, 0])
            s1 = 0.0
            s2 = 0.0
            for t in range(n_steps):
                d = np.float64(x[r, t]) - x0
                s1 += d
                s2 += d * d
            variate = v
            v = 0 if v + 1 == n_variates else v + 1
            inv_count = inv_n
            last_value = np.float64(x[r, n_steps - 1])
            # Sums (of x, of squares) past the data's dtype overflow in the
            # fallback: those windows raise there, so they raise here too.
            if not (s2 <= limit and abs(x0 * n_steps + s1) <= limit):
                # A NaN (or an infinity, or an overflow): the observed values.
                count, x0, last_value, s1, s2 = observed_sums(x[r])
                if not (count and s2 <= limit and abs(x0 * count + s1) <= limit):
                    loc[r] = np.nan
                    flagged += 1
                    continue
                inv_count = 1.0 / count
            m = s1 * inv_count
            var = max(s2 * inv_count - m * m, 0.0)
            if eps_mode == 0:
                s = np.sqrt(max(var, eps))
            elif eps_mode == 1:
                s = np.sqrt(var + eps)
            else:
                s = np.sqrt(var) + eps
            center = last_value if last else x0 + m
            loc[r] = center
            scale[r] = s
            if keep_variance:
                variance[r] = var
            if write:
                factor = gamma[variate] / s
                rounded = cast(center)
                shift = cast(beta[variate] - (center - np.float64(rounded)) * factor)
                f = cast(factor)
                for t in range(n_steps):
                    out[r, t] = (x[r, t] - rounded) * f + shift
        return flagged

    @numba.njit(nogil=True, cache=True)
    def inverse_kernel(z, out, loc, scale, gamma, beta):
        n_rows, n_steps = z.shape
        n_variates = gamma.shape[0]
        cast = z.dtype.type
        v = 0
        for r in range(n_rows):
            variate = v
            v = 0 if v + 1 == n_variates else v + 1
            factor = scale[r] / gamma[variate]
            shift = loc[r] - beta[variate] * factor
            # z * factor + shift with the shift's rounding added back first.
            rounded = cast(shift)
            rest = cast(shift - np.float64(rounded))
            f = cast(factor)
            for t in range(n_steps):
                out[r, t] = (z[r, t] * f + rest) + rounded

    return rows_kernel, inverse_kernel


def available() -> bool:
    """Return True when numba is installed and the fused kernels can run."""
    return _kernels() is not None


def _split_rows(run, n_rows, n_variates, threads):
    """Run ``run(start, stop)`` over the rows, on ``threads`` threads; sum results.

    The rows are cut into about ``CHUNKS_PER_THREAD`` chunks per thread, which
    the threads take in turn until none is left: a thread that is descheduled
    (another process wants its core) or wakes up late delays one chunk, not
    its whole share, and the calling thread does the work of a worker that
    never started. The calling thread works too; the others come from a pool
    kept for the process: starting a thread took about 0.5 ms on the
    benchmark machine, a fifth of a 32 MB ``transform``.
    """
    if threads <= 1 or n_rows < 2 * threads:
        return run(0, n_rows)
    # The variate of a row is r % V: chunks start on multiples of V.
    per_chunk = -(-n_rows // (threads * CHUNKS_PER_THREAD))
    per_chunk += -per_chunk % n_variates
    bounds = [(s, min(s + per_chunk, n_rows)) for s in range(0, n_rows, per_chunk)]
    taken = iter(bounds)
    lock = threading.Lock()

    def work():
        total = 0
        while True:
            with lock:
                span = next(taken, None)
            if span is None:
                return total
            total += run(*span) or 0

    pool = _worker_pool(threads - 1)
    others = [pool.submit(work) for _ in range(threads - 1)]
    total = work()
    # A worker that has not started finds nothing left: it is not waited for.
    return total + sum(f.result() for f in others if not f.cancel())


_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()


def _worker_pool(workers: int) -> ThreadPoolExecutor:
    """Return the process's pool of kernel threads, with at least ``workers``."""
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="sklearn-revin")
            _pool_workers = workers
        return _pool


def _forget_pool() -> None:
    """Drop the pool in a forked child: its threads were not copied."""
    global _pool, _pool_workers, _pool_lock
    _pool, _pool_workers, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _per_variate(values, like: np.ndarray) -> np.ndarray:
    """Return ``values`` (None: zeros) as a contiguous float64 array like ``like``."""
    if values is None:
        return np.zeros_like(like)
    if isinstance(values, torch.Tensor):
        values = values.detach().to(torch.float64).numpy()
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 1:  # the common case, without broadcast_to's cost
        return np.full(like.shape, values[0])
    return np.ascontiguousarray(np.broadcast_to(values, like.shape))


def fused_rows(
    rows: torch.Tensor,
    out_rows: torch.Tensor | None,
    gamma: torch.Tensor,
    beta: torch.Tensor | None,
    *,
    eps: float,
    eps_mode: str,
    center: str,
    loc: torch.Tensor,
    scale: torch.Tensor,
    variance: torch.Tensor | None = None,
    threads: int = 1,
) -> int:
    """Normalize the rows of a contiguous CPU tensor ``(R, T)`` into ``out_rows``.

    ``gamma`` and ``beta`` are per variate ``(V,)``; row ``r`` is variate
    ``r % V``. ``out_rows`` None computes the statistics alone. ``loc``,
    ``scale`` and ``variance`` (None: not kept) are contiguous ``(R,)``
    tensors of any float dtype that receive each row's statistics.

    Returns
    -------
    flagged : int
        The number of rows with no observed (non-NaN) value, or whose sums
        over the observed values are not finite or past the largest value of
        the data's dtype (an infinity, an overflow): their ``loc`` is NaN,
        their other statistics and output are not set (the caller redoes
        them). Other rows with NaN are done here, NaN staying NaN.
    """
    rows_kernel = _kernels()[0]
    x = rows.numpy()
    write = out_rows is not None
    out = out_rows.numpy() if write else x[:0]
    g = _per_variate(gamma, np.empty(gamma.numel()))
    b = _per_variate(beta, g)
    loc_a, scale_a = loc.numpy(), scale.numpy()
    var_a = loc_a[:0] if variance is None else variance.numpy()
    keep_variance = variance is not None
    options = (
        g,
        b,
        float(eps),
        _EPS_MODES[eps_mode],
        center == "last",
        write,
        float(torch.finfo(rows.dtype).max),
    )

    def run(start, stop):
        return rows_kernel(
            x[start:stop],
            out[start:stop] if write else out,
            *options,
            loc_a[start:stop],
            scale_a[start:stop],
            var_a[start:stop] if keep_variance else var_a,
        )

    return _split_rows(run, x.shape[0], g.shape[0], threads)


def fused_denormalize(
    rows: np.ndarray,
    out_rows: np.ndarray,
    loc: np.ndarray,
    scale: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    *,
    threads: int = 1,
) -> None:
    """Write ``(z - beta) / gamma * scale + loc`` of the rows ``(R, H)``.

    ``loc`` and ``scale`` are contiguous ``(R,)`` (float64: the kept
    statistics, read as they are); ``gamma`` and ``beta`` ``(V,)``, row ``r``
    being variate ``r % V``. ``out_rows`` may be ``rows`` itself.
    """
    inverse_kernel = _kernels()[1]
    g = _per_variate(gamma, np.empty(np.size(gamma)))
    b = _per_variate(beta, g)

    def run(start, stop):
        inverse_kernel(
            rows[start:stop],
            out_rows[start:stop],
            loc[start:stop],
            scale[start:stop],
            g,
            b,
        )

    _split_rows(run, rows.shape[0], g.shape[0], threads)
