"""An optional fused CPU kernel for RevIN: one read and one write of the data.

With numba installed (``pip install sklearn-revin[fast]``), each window
(a row of ``T`` values) is normalized in two loops over the row while it sits
in the L1 cache: the first sums ``x - x[0]`` and its square in float64, the
second writes ``(x - mean) * (gamma / scale) + beta``. The data crosses the
memory bus once each way, the floor of a copy; torch's blocked path
(:mod:`sklearn_revin._functional`), the fallback without numba, makes six
passes over cache-sized blocks and opens a parallel region for each.

Accuracy: the sums are taken about the window's first value in float64, so
float32 windows far from zero keep their precision (the variance formula
``E[d**2] - E[d]**2`` loses digits only when the first value is many standard
deviations away from the mean, ~1e4 std for one float32 digit). Windows whose
sums are not finite (NaN, infinity, an overflow) are flagged and redone by the
general path, which ignores NaN or raises.

The kernel is compiled on first use for each dtype (a second or two; numba
caches it on disk). Rows are independent, so splitting them between threads
gives the same bits whatever the thread count.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch

__all__ = ["available", "fused_rows"]

_EPS_MODES = {"clamp": 0, "add": 1, "add_std": 2}


@lru_cache(maxsize=1)
def _kernel():
    """Return the compiled kernel, or None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
    def rows_kernel(
        x,
        out,
        gamma,
        beta,
        n_variates,
        eps,
        eps_mode,
        last,
        write,
        limit,
        loc,
        scale,
        bad,
    ):
        n_rows, n_steps = x.shape
        # Per-row costs matter for short windows: no integer modulo, and
        # multiplications by 1/n instead of divisions.
        inv_n = 1.0 / n_steps
        v = 0
        for r in range(n_rows):
            x0 = np.float64(x[r, 0])
            s1 = 0.0
            s2 = 0.0
            for t in range(n_steps):
                d = np.float64(x[r, t]) - x0
                s1 += d
                s2 += d * d
            # Sums (of x, of squares) past the data's dtype overflow in the
            # fallback: those windows raise there, so they raise here too.
            variate = v
            v = 0 if v + 1 == n_variates else v + 1
            if not (s2 <= limit and abs(x0 * n_steps + s1) <= limit):
                bad[r] = True
                continue
            m = s1 * inv_n
            var = max(s2 * inv_n - m * m, 0.0)
            if eps_mode == 0:
                s = np.sqrt(max(var, eps))
            elif eps_mode == 1:
                s = np.sqrt(var + eps)
            else:
                s = np.sqrt(var) + eps
            center = np.float64(x[r, n_steps - 1]) if last else x0 + m
            loc[r] = center
            scale[r, 0] = var
            scale[r, 1] = s
            if write:
                factor = gamma[variate] / s
                shift = beta[variate]
                for t in range(n_steps):
                    out[r, t] = (np.float64(x[r, t]) - center) * factor + shift

    return rows_kernel


def available() -> bool:
    """Return True when numba is installed and the fused kernel can run."""
    return _kernel() is not None


def fused_rows(
    rows: torch.Tensor,
    out_rows: torch.Tensor | None,
    gamma: torch.Tensor,
    beta: torch.Tensor | None,
    *,
    eps: float,
    eps_mode: str,
    center: str,
    threads: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalize the rows of a contiguous CPU tensor ``(R, T)`` into ``out_rows``.

    ``gamma`` and ``beta`` are per variate ``(V,)``; row ``r`` is variate
    ``r % V``. ``out_rows`` None computes the statistics alone.

    Returns
    -------
    loc : torch.Tensor of shape (R,), float64
    variance, scale : torch.Tensor of shape (R,), float64
    bad : torch.Tensor of shape (R,), bool
        Rows whose sums are not finite or past the largest value of the data's
        dtype: their statistics and output are
        not set (the caller redoes them).
    """
    kernel = _kernel()
    x = rows.numpy()
    write = out_rows is not None
    out = out_rows.numpy() if write else x[:0]
    n_rows = x.shape[0]
    g = gamma.detach().to(torch.float64).reshape(-1).numpy()
    b = (
        np.zeros_like(g)
        if beta is None
        else beta.detach().to(torch.float64).reshape(-1).numpy()
    )
    b = np.broadcast_to(b, g.shape).copy()
    loc = np.empty(n_rows)
    moments = np.empty((n_rows, 2))
    bad = np.zeros(n_rows, dtype=np.bool_)
    limit = float(torch.finfo(rows.dtype).max)
    options = (g, b, g.shape[0], float(eps), _EPS_MODES[eps_mode], center == "last")

    def run(start, stop):
        kernel(
            x[start:stop],
            out[start:stop] if write else out,
            *options,
            write,
            limit,
            loc[start:stop],
            moments[start:stop],
            bad[start:stop],
        )

    if threads <= 1 or n_rows < 2 * threads:
        run(0, n_rows)
    else:
        # The variate of a row is r % V: split on multiples of V.
        per_thread = -(-n_rows // threads)
        per_thread += -per_thread % g.shape[0]
        bounds = [
            (s, min(s + per_thread, n_rows)) for s in range(0, n_rows, per_thread)
        ]
        with ThreadPoolExecutor(len(bounds)) as pool:
            list(pool.map(lambda span: run(*span), bounds))
    moments_t = torch.from_numpy(moments)
    return (
        torch.from_numpy(loc),
        moments_t[:, 0],
        moments_t[:, 1],
        torch.from_numpy(bad),
    )
