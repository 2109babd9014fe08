"""The RevIN arithmetic, in torch: statistics, normalization and its inverse.

This is the one place where the numbers of reversible instance normalization
are computed. :class:`~sklearn_revin.RevINTransformer`, the regressor and the
torch module :class:`sklearn_revin.nn.RevIN` all call these functions, so a fix
here is a fix everywhere.

Layout: data tensors are ``(..., n_variates, n_steps)``; per-instance
statistics are ``(..., n_variates)``; ``gamma`` and ``beta`` are
``(n_variates,)``. Every function works on any device and is differentiable
when called without ``out``.

Speed. RevIN is memory bound: the floor is one read and one write of the data,
the cost of a copy. Outside autograd, :func:`normalize_windows` (and
:func:`window_statistics`) walk the windows in blocks of up to 8 MiB, so that the
block read for the statistics is still in the CPU cache for the passes that
subtract the mean, sum the squared deviations and apply the per-window
multiply-add: the data crosses the memory bus once each way. The mean is
computed in two steps (a first mean, then the mean of the deviations from it),
which keeps float32 accurate for windows with a large offset without the slow
Welford kernel; a NaN or an infinity shows up as a non-finite first mean, so
only the windows that hold one take the NaN-aware path. On CUDA, torch's
fused layer-norm kernel normalizes each window in one read and one write (see
:func:`_layer_norm`); the few windows it cannot handle exactly (variance below
eps, NaN) are redone by the general path.
"""

from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import numpy as np
import torch

from . import _fused, _threads
from ._backend import as_tensor_like, empty, empty_like

__all__ = [
    "CENTERS",
    "EPS_MODES",
    "INVERSES",
    "WindowStatistics",
    "apply_statistics",
    "compensated_location",
    "denormalize",
    "effective_gamma",
    "masked_denormalize",
    "masked_normalize",
    "normalize",
    "normalize_windows",
    "unmasked_normalize",
    "window_statistics",
]

# How eps enters the scale of a window of biased variance var:
# "clamp" sqrt(max(var, eps)) (the itransformer package), "add" sqrt(var + eps)
# (the original RevIN and its copies), "add_std" sqrt(var) + eps (tsai).
EPS_MODES = ("clamp", "add", "add_std")
# How denormalize divides by gamma: "exact" by gamma itself, the inverse of
# normalize; "eps_squared" by gamma + eps**2, as the original RevIN, PatchTST,
# Time-Series-Library, darts and neuralforecast's RevIN do on the way back.
INVERSES = ("exact", "eps_squared")
CENTERS = ("mean", "last")


def _default_block_bytes() -> int:
    """Return a quarter of the last-level cache, at most 8 MiB (4 MiB if unknown).

    A block of input and its output block then stay in the cache between the
    passes over them, while the per-block cost of the ~15 small torch calls
    (and of their parallel regions) stays small. On the 2-core benchmark
    machine (32 MiB L3) 8 MiB blocks were the fastest of 1, 2, 4 and 8 MiB.
    """
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as size:
            text = size.read().strip()
    except OSError:
        return 4 * 2**20
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    try:
        cache = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    except (ValueError, IndexError):
        return 4 * 2**20
    return max(2**20, min(8 * 2**20, cache // 4))


# Bytes of input per block on the CPU (see _default_block_bytes).
BLOCK_BYTES = _default_block_bytes()


# The residual pass of the mean is skipped where it moves no output by more
# than this, in units of the window's standard deviation (float64 only).
_RESIDUAL_TOLERANCE = 1e-9
_FLOAT64_EPS = float(torch.finfo(torch.float64).eps)
_SKIP_CHECK_MIN_NUMEL = 2**16

_INF_MESSAGE = (
    "Input contains infinity. RevIN needs finite values to compute the "
    "statistics of a window (NaN is allowed: it is ignored in the statistics "
    "and kept in place)."
)


class WindowStatistics(NamedTuple):
    """Per-window location, scale and variance, each ``(..., n_variates)``."""

    loc: torch.Tensor
    scale: torch.Tensor
    variance: torch.Tensor


def effective_gamma(gamma: torch.Tensor, eps: float) -> torch.Tensor:
    """Return ``gamma`` with magnitudes below ``eps`` raised to ``eps``.

    The sign is kept and zero becomes ``+eps``, so that dividing by the result
    never gives an infinity or a NaN. The same effective gamma is used by
    :func:`normalize` and :func:`denormalize`, which keeps the round trip exact.
    """
    magnitude = gamma.abs().clamp(min=eps)
    return torch.where(gamma < 0, -magnitude, magnitude)


def window_statistics(
    x: torch.Tensor,
    *,
    eps: float,
    eps_mode: str = "clamp",
    center: str = "mean",
    stats_dtype: torch.dtype | None = None,
    with_variance: bool = True,
) -> WindowStatistics:
    """Compute the location and scale of each window over its last axis.

    Parameters
    ----------
    x : torch.Tensor of shape (..., n_steps)
        Floating point windows. NaN values are ignored; a window made only of
        NaN gets NaN statistics. Infinite values raise ``ValueError``.
    eps : float
        Lower bound of the variance (``eps_mode="clamp"``), constant added
        to it (``eps_mode="add"``) or to the standard deviation
        (``eps_mode="add_std"``).
    eps_mode : {"clamp", "add", "add_std"}, default="clamp"
        ``scale = sqrt(max(var, eps))``, ``scale = sqrt(var + eps)`` or
        ``scale = sqrt(var) + eps``; ``var`` is the biased (population)
        variance.
    center : {"mean", "last"}, default="mean"
        What is subtracted: the window mean, or its last observed value.
    stats_dtype : torch.dtype, default=None
        Dtype of ``loc`` and ``scale``; None is x's. ``torch.float64`` for
        float32 windows keeps the mean to float64 precision (its float32 first
        value and the correction are added in float64), for normalizing other
        values, such as the targets that follow a window, with it later. The
        statistics are written in this dtype as they are computed: no
        conversion pass over them afterwards.
    with_variance : bool, default=True
        Return the variance too; False returns None in its place (one array
        fewer to write where it is not kept).

    Returns
    -------
    statistics : WindowStatistics
        ``loc`` and ``scale`` of shape ``(...)``, and the biased ``variance``.
    """
    _check_modes(eps_mode, center)
    if _needs_autograd(x) or not _blockable(x):
        stats = _differentiable_statistics(x, eps=eps, eps_mode=eps_mode, center=center)
        return _with_stats_dtype(stats, stats_dtype, with_variance)
    options = (eps, eps_mode, center, stats_dtype, with_variance)
    fused = _fused_or_none(x, None, None, None, *options)
    if fused is not None:
        return fused[1]
    return _blocked(x, None, None, None, *options)


def normalize_windows(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    *,
    eps: float,
    eps_mode: str = "clamp",
    center: str = "mean",
    out: torch.Tensor | None = None,
    stats_dtype: torch.dtype | None = None,
    with_variance: bool = True,
) -> tuple[torch.Tensor, WindowStatistics]:
    """Normalize each window by its own statistics, in one pass over memory.

    The result equals ``normalize(x, *window_statistics(x)[:2], gamma, beta)``
    (to rounding), but the statistics and the normalization share the reads of
    ``x`` (see the module's notes on speed).

    Parameters
    ----------
    x : torch.Tensor of shape (..., n_variates, n_steps)
        Windows to normalize; NaN is ignored in the statistics and kept in
        place, an infinity raises ``ValueError``.
    gamma, beta : torch.Tensor of shape (n_variates,)
        Affine parameters; ``gamma`` should come from :func:`effective_gamma`.
    eps, eps_mode, center
        As in :func:`window_statistics`.
    out : torch.Tensor, optional
        Where to write the result (may be ``x`` itself). Not differentiable.
        With ``out=x`` on the CPU, an infinity in a later block raises after
        the earlier blocks were normalized in place.
    stats_dtype, with_variance
        As in :func:`window_statistics`.

    Returns
    -------
    normalized : torch.Tensor of the shape of x
    statistics : WindowStatistics
        The statistics of each window, as :func:`window_statistics` returns
        them.
    """
    _check_modes(eps_mode, center)
    if out is None and (_needs_autograd(x, gamma, beta) or not _blockable(x)):
        stats = _differentiable_statistics(x, eps=eps, eps_mode=eps_mode, center=center)
        normalized = normalize(x, stats.loc, stats.scale, gamma, beta)
        return normalized, _with_stats_dtype(stats, stats_dtype, with_variance)
    if not _blockable(x):
        stats = _differentiable_statistics(x, eps=eps, eps_mode=eps_mode, center=center)
        normalized = normalize(x, stats.loc, stats.scale, gamma, beta, out=out)
        return normalized, _with_stats_dtype(stats, stats_dtype, with_variance)
    # The fused kernel adds eps to the variance, never to the deviation, and its
    # mean has x's precision only.
    fused = (
        center == "mean"
        and eps_mode != "add_std"
        and stats_dtype in (None, x.dtype)
        and _prefers_layer_norm(x)
    )
    if fused and (out is None or not _overlaps(x, out)):
        out, stats = _layer_norm(x, out, eps, eps_mode, gamma, beta)
        return out, _with_stats_dtype(stats, stats_dtype, with_variance)
    if out is None:
        out = empty_like(x)
    options = (eps, eps_mode, center, stats_dtype, with_variance)
    fused = _fused_or_none(x, out, gamma, beta, *options)
    if fused is not None:
        return fused
    return out, _blocked(x, out, gamma, beta, *options)


def normalize(
    x: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return ``(x - loc) / scale * gamma + beta``, window by window.

    Parameters
    ----------
    x : torch.Tensor of shape (..., n_variates, n_steps)
        Windows to normalize.
    loc, scale : torch.Tensor of shape (..., n_variates)
        Statistics of each window, from :func:`window_statistics`.
    gamma, beta : torch.Tensor of shape (n_variates,)
        Affine parameters; ``gamma`` should come from :func:`effective_gamma`.
    out : torch.Tensor, optional
        Where to write the result (may be ``x`` itself). Not differentiable.

    Returns
    -------
    normalized : torch.Tensor of shape (..., n_variates, n_steps)
    """
    # x - loc first, then one multiply-add: subtracting before scaling keeps
    # float32 data with a large offset accurate (x * factor - loc * factor
    # would cancel).
    factor = gamma / scale
    if out is None:
        return torch.addcmul(
            beta.unsqueeze(-1), x - loc.unsqueeze(-1), factor.unsqueeze(-1)
        )
    x3, out3, target = _instance_views(x, out)
    n_instances, n_variates, _ = x3.shape
    loc2 = loc.expand(x.shape[:-1]).reshape(n_instances, n_variates)
    factor2 = factor.expand(x.shape[:-1]).reshape(n_instances, n_variates)
    shift2 = beta.expand(n_instances, n_variates)
    with torch.no_grad(), _kernel_threads(x):
        step = _block_size(x3)
        for start in range(0, n_instances, step):
            rows = slice(start, start + step)
            d = out3[rows]
            torch.sub(x3[rows], loc2[rows].unsqueeze(-1), out=d)
            torch.addcmul(
                shift2[rows].unsqueeze(-1), d, factor2[rows].unsqueeze(-1), out=d
            )
        if target is not out:
            out.copy_(target.view(out.shape))
    return out


def denormalize(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    *,
    out: torch.Tensor | None = None,
    inverse: str = "exact",
    eps: float = 0.0,
    keepdim: bool = False,
) -> torch.Tensor:
    """Return ``(z - beta) / gamma * scale + loc``, the inverse of :func:`normalize`.

    ``z`` may have another number of steps than the windows the statistics
    come from (a forecast horizon). Shapes and ``out`` are as in
    :func:`normalize`; ``keepdim=True`` says that the statistics keep the
    window axis, ``(..., n_variates, 1)``, and gamma and beta are
    ``(n_variates, 1)``, as :func:`unmasked_normalize` gives them. With
    ``inverse="eps_squared"`` the division is by ``gamma + eps**2`` instead,
    as the original RevIN and its copies denormalize: not the exact inverse,
    but their numbers.
    """
    if inverse not in INVERSES:
        raise ValueError(f"inverse must be one of {INVERSES}, got {inverse!r}.")
    if inverse == "eps_squared":
        gamma = gamma + eps * eps
    # One multiply-add per value: z * (scale / gamma) + (loc - beta * scale /
    # gamma). The per-window shift is rounded once more than with (z - beta)
    # first, an error of one unit in the last place of the output at most.
    factor = scale / gamma
    shift = torch.addcmul(loc, beta, factor, value=-1)
    if not keepdim:
        factor, shift = factor.unsqueeze(-1), shift.unsqueeze(-1)
    if _needs_autograd(z, loc, scale, gamma, beta):
        return torch.addcmul(shift, z, factor)
    with _kernel_threads(z):
        return torch.addcmul(shift, z, factor, out=out)


def masked_denormalize(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
) -> torch.Tensor:
    """Return :func:`denormalize` with NaN in ``z`` kept and kept out of gradients.

    A model fed windows with NaN holes outputs NaN somewhere; NaN is replaced
    by 0 before the arithmetic and put back after, so that a loss that masks
    the NaN outputs gives finite gradients for ``gamma`` and ``beta`` (a NaN
    in a product's backward would otherwise spread: 0 * NaN is NaN). No
    data-dependent branch, as :func:`masked_normalize`.
    """
    missing = torch.isnan(z)
    filled = torch.where(missing, 0, z)
    return torch.where(missing, z, denormalize(filled, loc, scale, gamma, beta))


def apply_statistics(
    function,
    x: torch.Tensor,
    mean,
    scale,
    gamma,
    beta,
    *,
    out: torch.Tensor | None = None,
    **options,
) -> torch.Tensor:
    """Apply :func:`normalize` or :func:`denormalize` with kept statistics.

    ``x`` is ``(n, V, H)``; ``mean`` and ``scale`` ``(n, V)`` (NumPy or
    tensors, float64 as the transformer keeps them), ``gamma`` and ``beta``
    ``(V,)``. float32 data is computed at float32 cost with the float64 mean
    (see :func:`compensated_location`). :func:`denormalize` of contiguous CPU
    data takes the fused kernel where numba is installed, reading the
    statistics as they are kept: one read and one write of the data.
    """
    if function is denormalize:
        done = _fused_denormalize_or_none(x, out, mean, scale, gamma, beta, **options)
        if done is not None:
            return done
    loc, shift = compensated_location(mean, scale, gamma, beta, x.dtype)
    return function(
        x,
        as_tensor_like(loc, x),
        as_tensor_like(scale, x),
        as_tensor_like(gamma, x),
        as_tensor_like(shift, x),
        out=out,
        **options,
    )


def compensated_location(mean, scale, gamma, beta, dtype):
    """Return ``(loc, shift)`` in ``dtype``'s precision that stand for ``mean``.

    ``(x - mean) / scale * gamma + beta`` equals ``(x - loc) / scale * gamma +
    shift`` with ``loc`` the mean rounded to float32 and the rounding moved
    into a per-instance ``shift = beta - (mean - loc) * gamma / scale``, which
    is small and keeps its precision. So float32 values (the targets of a
    window, a forecast) are normalized and mapped back with float64
    statistics at float32 cost, as accurately as a transform. For float64
    data, or float32 statistics, ``(mean, beta)`` is returned.
    """
    if dtype != np.float32 and dtype != torch.float32:
        return mean, beta
    if isinstance(mean, torch.Tensor):
        if mean.dtype != torch.float64:
            return mean, beta
        loc = mean.to(torch.float32)
        like = {"device": mean.device, "dtype": torch.float64}
        factor = torch.as_tensor(gamma, **like) / torch.as_tensor(scale, **like)
        return loc, torch.as_tensor(beta, **like) - (mean - loc) * factor
    mean = np.asarray(mean)
    if mean.dtype != np.float64:
        return mean, beta
    loc = mean.astype(np.float32)
    return loc, beta - (mean - loc) * (gamma / np.asarray(scale, dtype=np.float64))


def _fused_denormalize_or_none(z, out, mean, scale, gamma, beta, *, inverse, eps):
    """Run :func:`denormalize` with the fused kernel; None where it does not apply.

    It applies to contiguous float32 and float64 CPU data with NumPy float64
    statistics (the kept ones), when numba is installed.
    """
    if inverse not in INVERSES:
        raise ValueError(f"inverse must be one of {INVERSES}, got {inverse!r}.")
    fits = (
        z.device.type == "cpu"
        and z.dtype in (torch.float32, torch.float64)
        and z.is_contiguous()
        and z.numel() > 0
        and (out is None or _fusable_out(z, out))
        and all(
            isinstance(values, np.ndarray) and values.dtype == np.float64
            for values in (mean, scale)
        )
        and _fused.available()
    )
    if not fits:
        return None
    if out is None:
        out = empty_like(z)
    gamma = np.asarray(gamma, dtype=np.float64)
    if inverse == "eps_squared":
        gamma = gamma + eps * eps
    n_steps = z.shape[-1]
    _fused.fused_denormalize(
        z.view(-1, n_steps).numpy(),
        out.view(-1, n_steps).numpy(),
        np.ascontiguousarray(mean).reshape(-1),
        np.ascontiguousarray(scale).reshape(-1),
        gamma,
        np.asarray(beta, dtype=np.float64),
        threads=_threads.pool_threads(z.numel() * z.element_size()),
    )
    return out


# ------------------------------------------------------------------ internals


def _check_modes(eps_mode, center):
    if eps_mode not in EPS_MODES:
        raise ValueError(f"eps_mode must be one of {EPS_MODES}, got {eps_mode!r}.")
    if center not in CENTERS:
        raise ValueError(f"center must be one of {CENTERS}, got {center!r}.")


def _with_stats_dtype(stats, stats_dtype, with_variance=True):
    """Return ``stats`` with loc and scale in ``stats_dtype`` (None: as they are)."""
    loc, scale = stats.loc, stats.scale
    if stats_dtype is not None:
        loc, scale = loc.to(stats_dtype), scale.to(stats_dtype)
    return WindowStatistics(loc, scale, stats.variance if with_variance else None)


def _needs_autograd(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _blockable(x) -> bool:
    return x.ndim >= 1 and x.numel() > 0 and x.dtype in (torch.float32, torch.float64)


def _scale(variance, eps, eps_mode):
    if eps_mode == "clamp":
        return variance.clamp(min=eps).sqrt()
    if eps_mode == "add_std":
        if variance.requires_grad:
            # sqrt's gradient at 0 is infinite: a constant window gets 0.
            positive = variance > 0
            return torch.where(positive, variance, 1).sqrt().mul(positive).add(eps)
        return variance.sqrt() + eps
    return (variance + eps).sqrt()


def _differentiable_statistics(x, *, eps, eps_mode, center):
    """Statistics on the autograd path, NaN-aware; an infinity is an error (eager)."""
    _check_no_infinity(x)
    moments = _masked_moments(x, eps=eps, eps_mode=eps_mode, center=center)
    stats = moments.statistics
    # Finite input: a non-finite variance of a non-empty window is an overflow.
    _check_overflow(
        torch.where(moments.empty | torch.isfinite(stats.variance), 0, torch.inf)
    )
    # An all-NaN window has NaN statistics, as on the blocked path.
    return WindowStatistics(
        loc=stats.loc,
        scale=torch.where(moments.empty, torch.nan, stats.scale),
        variance=stats.variance,
    )


def _check_overflow(variance):
    """Raise for windows of finite values whose sum of squares overflows.

    Called on the moments of windows known to hold no infinity, where an
    infinite sum of squares means values too large to square and sum (NaN is
    an all-NaN window's).
    """
    if bool(torch.isinf(variance).any()):
        limit = torch.finfo(variance.dtype).max
        raise ValueError(
            f"The statistics of some windows overflow {variance.dtype} (largest "
            f"{limit:.3g}): their values are too large to square and sum, and "
            "the result would be silently 0 or NaN. Rescale X (e.g. divide it "
            "by a power of 10)"
            + (" or pass float64 data." if variance.dtype != torch.float64 else ".")
        )


def _check_no_infinity(x):
    if bool(torch.isinf(x).any()):
        raise ValueError(_INF_MESSAGE)


class _Moments(NamedTuple):
    """What :func:`_masked_moments` returns (see there)."""

    observed: torch.Tensor
    deviation: torch.Tensor
    statistics: WindowStatistics
    empty: torch.Tensor


def _masked_moments(x, *, eps, eps_mode, center):
    """NaN-aware statistics with no data-dependent branch, safe for autograd.

    NaN is replaced by 0 *before* any arithmetic (``torch.where`` on the
    input), and a window with no observed value is given count 1, so that
    every intermediate is finite for finite input: the backward pass then
    never multiplies a zero gradient by a NaN, and gradients stay finite for
    every observed value and parameter when a loss masks the NaN outputs.
    The mean is taken in two steps, as on the blocked path (a first mean, then
    the mean of the deviations from it), which keeps float32 windows far from
    0 accurate.

    Returns ``observed`` (the mask), ``deviation`` (``x - loc`` without
    cancellation, 0 where x is NaN), ``statistics`` (``loc`` and
    ``variance`` NaN for an all-NaN window, ``scale`` finite: the reverse map
    of such a window is NaN through ``loc`` alone) and ``empty`` (windows
    with no observed value). An infinity makes its window NaN.
    """
    observed = ~torch.isnan(x)
    filled = torch.where(observed, x, 0)
    count = observed.sum(-1).to(x.dtype)
    empty = count == 0
    count = count.clamp(min=1)
    first_mean = filled.sum(-1) / count
    d = torch.where(observed, filled - first_mean.unsqueeze(-1), 0)
    residual = d.sum(-1) / count
    variance = (d.square().sum(-1) / count - residual.square()).clamp(min=0)
    if center == "mean":
        offset, loc = residual, first_mean + residual
    else:
        loc = _gather_last_observed(filled, observed)
        offset = loc - first_mean
    # d - offset, not d * factor - offset * factor: a constant window gives
    # exactly 0 here, so exactly beta after the affine.
    deviation = d - offset.unsqueeze(-1)
    scale = _scale(variance, eps, eps_mode)
    statistics = WindowStatistics(
        loc=torch.where(empty, torch.nan, loc),
        scale=scale,
        variance=torch.where(empty, torch.nan, variance),
    )
    return _Moments(observed, deviation, statistics, empty)


def masked_normalize(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    *,
    eps: float,
    eps_mode: str = "clamp",
    center: str = "mean",
) -> tuple[torch.Tensor, WindowStatistics]:
    """Normalize each window with no data-dependent branch: the torch module's path.

    The same numbers as :func:`normalize_windows` (to rounding), computed so
    that the function traces, exports (``torch.export``, ONNX) and compiles
    with ``fullgraph=True``, and so that gradients stay finite through NaN
    (see :func:`_masked_moments`). NaN stays NaN in place; an infinity, or
    values whose sum of squares overflows, make their window NaN (no error:
    raising would need a branch on the data).

    Parameters
    ----------
    x : torch.Tensor of shape (..., n_variates, n_steps)
        Floating point windows.
    gamma, beta : torch.Tensor of shape (n_variates,)
        Affine parameters; ``gamma`` should come from :func:`effective_gamma`.
    eps, eps_mode, center
        As in :func:`window_statistics`.

    Returns
    -------
    normalized : torch.Tensor of the shape of x
    statistics : WindowStatistics
        ``loc`` and ``variance`` are NaN for a window with no observed value,
        whose ``scale`` stays finite, so that :func:`denormalize` with these
        statistics gives NaN there and finite gradients elsewhere.
    """
    _check_modes(eps_mode, center)
    moments = _masked_moments(x, eps=eps, eps_mode=eps_mode, center=center)
    scale = moments.statistics.scale
    factor = (gamma / scale).unsqueeze(-1)
    normalized = torch.addcmul(beta.unsqueeze(-1), moments.deviation, factor)
    # NaN where x is NaN, and for a window whose statistics overflowed (an
    # infinite scale would otherwise give beta, silently).
    keep = moments.observed & torch.isfinite(scale).unsqueeze(-1)
    return torch.where(keep, normalized, torch.nan), moments.statistics


def unmasked_normalize(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    *,
    eps: float,
    eps_mode: str = "clamp",
    center: str = "mean",
) -> tuple[torch.Tensor, WindowStatistics]:
    """Normalize finite windows, differentiably, with no NaN handling: the fast path.

    The numbers of :func:`masked_normalize` (to rounding) for input without NaN
    or infinity, in fewer passes: no mask, no ``where``. The mean is taken in
    two steps as there (a first mean, then torch's one-pass ``var_mean`` of the
    deviations from it gives the correction and the variance), which keeps
    float32 windows far from 0 accurate. The caller checks that ``x`` is
    finite (a NaN here would spread to its whole window).

    Every per-window tensor keeps its window axis (no squeeze and unsqueeze
    on the way, which cost an operator call each on small inputs): ``gamma``
    and ``beta`` are ``(n_variates, 1)``, as the module holds them, and the
    statistics are returned as ``(..., n_variates, 1)``;
    :func:`denormalize` takes them as they are.
    """
    _check_modes(eps_mode, center)
    first_mean = x.mean(-1, keepdim=True)
    d = x - first_mean
    # Two plain means where torch.var_mean's Welford kernel took 460 us of a
    # 600 us forward on (32, 7, 336): d is centred already, so the correction
    # E[d]**2 is tiny and E[d**2] - E[d]**2 loses no digits.
    residual = d.mean(-1, keepdim=True)
    variance = (d * d).mean(-1, keepdim=True).sub_(residual * residual).clamp_(min=0)
    if center == "mean":
        offset, loc = residual, first_mean + residual
    else:
        loc = x[..., -1:]
        offset = loc - first_mean
    scale = _scale(variance, eps, eps_mode)
    normalized = torch.addcmul(beta, d - offset, gamma / scale)
    return normalized, WindowStatistics(loc=loc, scale=scale, variance=variance)


def _last_observed(x):
    last = x[..., -1]
    missing = torch.isnan(last)
    if not bool(missing.any()):
        return last
    return _gather_last_observed(x, ~torch.isnan(x))


def _gather_last_observed(values, observed):
    """Return the value at the last True of ``observed`` in each window (no branch).

    A window with nothing observed gets its first value.
    """
    steps = torch.arange(1, values.shape[-1] + 1, device=values.device)
    last_index = (steps * observed).argmax(dim=-1, keepdim=True)
    return torch.gather(values, -1, last_index).squeeze(-1)


def _as_instances(x):
    """View ``x`` of shape (..., V, T) as (N, V, T); a copy if it cannot be viewed."""
    if x.ndim == 3:
        return x
    if x.ndim == 1:
        return x.reshape(1, 1, x.shape[0])
    return x.reshape(-1, x.shape[-2], x.shape[-1])


def _instance_views(x, out):
    """Return x and out as (N, V, T), and the tensor the result is written to.

    That tensor is ``out`` itself, or a contiguous one when ``out`` cannot be
    viewed as (N, V, T) (the caller then copies it into ``out``).
    """
    target = out if _viewable_as_instances(out) else empty_like(x)
    return _as_instances(x), _as_instances(target), target


def _viewable_as_instances(t):
    if t.is_contiguous():
        return True
    try:
        if t.ndim == 1:
            t.view(1, 1, t.shape[0])
        else:
            t.view(-1, t.shape[-2], t.shape[-1])
    except RuntimeError:
        return False
    return True


def _fused_or_none(
    x, out, gamma, beta, eps, eps_mode, center, stats_dtype, with_variance
):
    """Run the optional fused kernel (see _fused); None where it does not apply.

    It applies to contiguous float32 and float64 CPU tensors, with ``out``
    contiguous and either ``x`` itself or apart from it, when numba is
    installed. The statistics are written straight into the arrays returned.
    Windows the kernel flags (nothing observed, an infinity, an overflow) are
    redone by :func:`_block`, which gives them NaN statistics or raises.
    """
    if not (
        x.device.type == "cpu"
        and x.is_contiguous()
        and (out is None or _fusable_out(x, out))
        and _fused.available()
    ):
        return None
    n_steps = x.shape[-1]
    rows = x.reshape(-1, n_steps)
    out_rows = None if out is None else out.view(-1, n_steps)
    write = out is not None
    n_rows = rows.shape[0]
    kept = x.dtype if stats_dtype is None else stats_dtype
    loc, scale = empty((n_rows,), kept), empty((n_rows,), kept)
    variance = empty((n_rows,), x.dtype) if with_variance else None
    with torch.no_grad():
        if write and x.numel() >= _SKIP_CHECK_MIN_NUMEL and not bool(beta.any()):
            beta = None  # no shift where none is needed
        flagged = _fused.fused_rows(
            rows,
            out_rows,
            gamma if write else torch.ones(1, dtype=torch.float64),
            beta,
            eps=eps,
            eps_mode=eps_mode,
            center=center,
            loc=loc,
            scale=scale,
            variance=variance,
            threads=_threads.pool_threads(x.numel() * x.element_size()),
        )
        if flagged:
            _redo_rows(
                rows,
                out_rows,
                torch.isnan(loc).nonzero().squeeze(1),
                (loc, scale, variance),
                eps,
                eps_mode,
                center,
                gamma,
                beta,
                write,
            )
    shape = x.shape[:-1]
    stats = WindowStatistics(
        loc.view(shape),
        scale.view(shape),
        None if variance is None else variance.view(shape),
    )
    return out, stats


def _fusable_out(x, out):
    return (
        out.is_contiguous()
        and out.dtype == x.dtype
        and out.shape == x.shape
        and out.device == x.device
        and (not _overlaps(x, out) or out.data_ptr() == x.data_ptr())
    )


def _redo_rows(rows, out_rows, index, stats, eps, eps_mode, center, gamma, beta, write):
    """Redo flagged rows with :func:`_block`, into ``out_rows`` and ``stats``."""
    windows = rows.index_select(0, index).unsqueeze(1)  # (k, 1, T), a copy
    normalized = torch.empty_like(windows)
    variates = index % (gamma.numel() if write else 1)
    part = _block(
        windows,
        normalized,
        eps,
        eps_mode,
        center,
        gamma[variates].unsqueeze(-1) if write else None,
        None if beta is None else beta[variates].unsqueeze(-1),
        write,
        torch.float64,
    )
    if write:
        out_rows.index_copy_(0, index, normalized.squeeze(1))
    for full, values in zip(stats, part, strict=True):
        if full is not None:
            full.index_copy_(0, index, values.reshape(-1).to(full.dtype))


def _kernel_threads(x):
    """Scope the thread count of a memory-bound pass over ``x`` (see _threads).

    Not in a traced, exported or compiled graph: thread counts are no part of
    a graph, and their calls would break it.
    """
    if (
        type(x) is not torch.Tensor
        or torch.compiler.is_compiling()
        or torch.jit.is_tracing()
    ):
        return contextlib.nullcontext()
    return _threads.scoped_threads(x.numel() * x.element_size(), x.device)


def _block_size(x3):
    """Return the number of instances per block: about BLOCK_BYTES on the CPU.

    Other devices get one block: there a kernel launch costs more than a pass.
    """
    if x3.device.type != "cpu":
        return max(x3.shape[0], 1)
    instance_bytes = x3.shape[1] * x3.shape[2] * x3.element_size()
    return max(1, BLOCK_BYTES // max(instance_bytes, 1))


def _blocked(x, out, gamma, beta, eps, eps_mode, center, stats_dtype, with_variance):
    """Return the statistics of ``x``, normalizing it into ``out`` unless None.

    Every block is read from memory once; the deviations from a first mean go
    into the block of ``out`` (or a scratch block when there is no ``out``),
    where the remaining passes find them in the cache. Each block's statistics
    are written into arrays of the whole, allocated once in ``stats_dtype``.
    """
    write = out is not None
    if write and x.numel() >= _SKIP_CHECK_MIN_NUMEL and not bool(beta.any()):
        beta = None  # no shift pass on large inputs where none is needed
    options = (eps, eps_mode, center, gamma, beta, write, stats_dtype)
    with torch.no_grad(), _kernel_threads(x):
        if write:
            x3, out3, target = _instance_views(x, out)
        else:
            # Statistics alone need no variate axis: one window per row blocks
            # finely whatever the layout.
            x3 = x.reshape(-1, 1, x.shape[-1])
        n_instances, n_variates = x3.shape[:2]
        step = _block_size(x3)
        if not write:
            out3 = torch.empty(
                (min(step, n_instances), *x3.shape[1:]), dtype=x.dtype, device=x.device
            )
        if n_instances <= step:
            stats = _with_stats_dtype(
                WindowStatistics(*_block(x3, out3, *options)), stats_dtype
            )
        else:
            kept = x.dtype if stats_dtype is None else stats_dtype
            stats = WindowStatistics(
                *(
                    empty((n_instances * n_variates,), dtype, x.device)
                    for dtype in (kept, kept, x.dtype)
                )
            )
            for start in range(0, n_instances, step):
                x_block = x3[start : start + step]
                d = out3[start : start + step] if write else out3[: x_block.shape[0]]
                part = _block(x_block, d, *options)
                stop = start + x_block.shape[0]
                span = slice(start * n_variates, stop * n_variates)
                for full, values in zip(stats, part, strict=True):
                    full[span].copy_(values.reshape(-1))
        if write and target is not out:
            out.copy_(target.view(out.shape))
    shape = x.shape[:-1]
    return WindowStatistics(
        stats.loc.reshape(shape),
        stats.scale.reshape(shape),
        stats.variance.reshape(shape) if with_variance else None,
    )


def _block(x, d, eps, eps_mode, center, gamma, beta, write, loc_dtype=None):
    """Return the statistics of a block of windows (b, V, T); normalize into ``d``.

    ``d`` receives ``x - m1`` (deviations from a first mean ``m1``) and, when
    ``write``, the normalized windows. ``d`` may be ``x`` itself. Positional
    arguments and in-place updates keep the per-call overhead of small inputs
    low. Every block takes the same torch calls whatever its size (sum,
    vector_norm and mul_/add_, the fastest on a cache-sized block), so that
    a window's result does not depend on the block size: the same bits on
    every machine.
    """
    n_steps = x.shape[-1]
    first_mean = x.sum(-1).div_(n_steps)
    # A NaN or an infinity anywhere in the block makes this sum non-finite.
    if not math.isfinite(first_mean.sum().item()):
        return _block_with_nan(
            x, d, first_mean, eps, eps_mode, center, gamma, beta, write, loc_dtype
        )
    return _clean_block(
        x, d, first_mean, eps, eps_mode, center, gamma, beta, write, loc_dtype
    )


def _clean_block(
    x, d, first_mean, eps, eps_mode, center, gamma, beta, write, loc_dtype=None
):
    """Finish :func:`_block` for windows without NaN or infinity."""
    n_steps = x.shape[-1]
    last = x[..., -1].clone() if center == "last" else None
    torch.sub(x, first_mean.unsqueeze(-1), out=d)
    variance = torch.linalg.vector_norm(d, dim=-1).square_().div_(n_steps)
    _check_overflow(variance)
    suffices = _first_mean_suffices(first_mean, variance, d)
    if suffices is not None and bool(suffices.all()):
        residual = None
    else:
        # The mean of the deviations corrects the rounding of the first mean;
        # the variance is taken about the corrected mean. Windows whose first
        # mean suffices get a zero correction, as when the pass is skipped.
        residual = d.sum(-1).div_(n_steps)
        if suffices is not None:
            residual.masked_fill_(suffices, 0)
        variance.addcmul_(residual, residual, value=-1).clamp_(min=0)
    return _finish(
        d,
        first_mean,
        residual,
        variance,
        last,
        eps,
        eps_mode,
        gamma,
        beta,
        write,
        loc_dtype,
    )


def _block_with_nan(
    x, d, first_mean, eps, eps_mode, center, gamma, beta, write, loc_dtype=None
):
    """Run :func:`_block` on a block where some windows hold NaN (or infinity).

    Only those windows take the NaN-aware path, on a copy taken before the
    block is written (``d`` may be ``x``); the others take the clean one, so
    a few NaN windows cost little more than clean data.
    """
    rows, variates = (~torch.isfinite(first_mean)).nonzero(as_tuple=True)
    windows = x[rows, variates].unsqueeze(1)  # (k, 1, n_steps), a copy
    if bool(torch.isinf(windows).any()):
        raise ValueError(_INF_MESSAGE)
    stats = _clean_block(
        x, d, first_mean, eps, eps_mode, center, gamma, beta, write, loc_dtype
    )
    normalized = torch.empty_like(windows)
    part = _nan_block(
        windows,
        normalized,
        eps,
        eps_mode,
        center,
        _select(gamma, rows, variates),
        _select(beta, rows, variates),
        write,
        loc_dtype,
    )
    if write:
        d[rows, variates] = normalized.squeeze(1)
    for full, values in zip(stats, part, strict=True):
        full[rows, variates] = values.squeeze(1)
    return stats


def _select(parameter, rows, variates):
    """Pick the affine parameter of some windows, as a (k, 1) column.

    ``parameter`` is per variate, (V,), or per window, (b, V) (the redone
    windows of :func:`_layer_norm` carry their own); None stays None.
    """
    if parameter is None:
        return None
    if parameter.ndim == 2:
        return parameter[rows, variates].unsqueeze(-1)
    return parameter[variates].unsqueeze(-1)


def _nan_block(x, d, eps, eps_mode, center, gamma, beta, write, loc_dtype=None):
    """Do what :func:`_block` does, ignoring NaN in statistics, keeping it in place."""
    if bool(torch.isinf(x).any()):
        raise ValueError(_INF_MESSAGE)
    count = (x.shape[-1] - torch.isnan(x).sum(-1)).to(x.dtype)
    # An all-NaN window has count 0: 0 / 0 gives it NaN statistics.
    first_mean = torch.nansum(x, -1).div_(count)
    last = _last_observed(x).clone() if center == "last" else None
    torch.sub(x, first_mean.unsqueeze(-1), out=d)
    residual = torch.nansum(d, -1).div_(count)
    variance = torch.nansum(d.square(), -1).div_(count)
    _check_overflow(variance)
    variance.addcmul_(residual, residual, value=-1).clamp_(min=0)
    return _finish(
        d,
        first_mean,
        residual,
        variance,
        last,
        eps,
        eps_mode,
        gamma,
        beta,
        write,
        loc_dtype,
    )


def _first_mean_suffices(first_mean, variance, d) -> torch.Tensor | None:
    """Return the windows where the rounding of the first mean cannot matter.

    A float sum of n values is off by at most (log2(n) + 1) * eps * sum(|x|),
    so the first mean moves the output (in units of the window's std) by at
    most (log2(n) + 1) * eps * (|mean| / std + 1). The residual pass is skipped
    when that is below 1e-9 for every window of a float64 block (a boolean
    mask per window, so that the result of a window does not depend on the
    others in its block); float32 (eps 6e-8) would need windows centred within
    2e-3 std of zero, so it always takes the residual pass (None).
    """
    if d.dtype != torch.float64:
        return None
    n_steps = d.shape[-1]
    bound = _RESIDUAL_TOLERANCE / ((math.log2(n_steps) + 1) * _FLOAT64_EPS) - 1
    # variance here is mean(d ** 2) >= the variance: a constant window fails.
    return first_mean.abs() <= variance.sqrt().mul_(bound)


def _finish(
    d,
    first_mean,
    residual,
    variance,
    last,
    eps,
    eps_mode,
    gamma,
    beta,
    write,
    loc_dtype=None,
):
    """Scale, loc and, when ``write``, the normalized windows from the moments.

    ``residual`` is the correction of ``first_mean`` (None: none needed);
    ``beta`` None means a zero shift. ``loc_dtype`` (None: the data's) is the
    dtype in which ``first_mean + residual`` is added and returned.
    """
    scale = _scale(variance, eps, eps_mode)
    if write:
        # (x - loc) * factor + beta = (d - (loc - m1)) * factor + beta, where
        # d = x - m1 is small: no cancellation in float32. The offset is taken
        # off d before scaling (not as beta - offset * factor, which cancels
        # when factor is large: a constant window then gives exactly beta).
        offset = residual if last is None else last - first_mean
        factor = torch.div(gamma, scale)
        if offset is not None:
            d.sub_(offset.unsqueeze(-1))
        # In-cache passes: on a large block, addcmul with per-window operands
        # is several times slower than mul_ and add_.
        d.mul_(factor.unsqueeze(-1))
        if beta is not None:
            d.add_(beta.unsqueeze(-1))
    if last is not None:
        loc = last
    elif residual is None:
        loc = first_mean
    elif loc_dtype is None or loc_dtype == first_mean.dtype:
        loc = first_mean.add_(residual)
    else:
        loc = first_mean.to(loc_dtype).add_(residual)
    if loc_dtype is not None and loc.dtype != loc_dtype:
        loc = loc.to(loc_dtype)
    return loc, scale, variance


# ------------------------------------------------------- fused layer norm (CUDA)


def _prefers_layer_norm(x) -> bool:
    """Return True where torch's fused layer norm beats the blocked path.

    On CUDA, ``native_layer_norm`` computes the moments of a row and writes
    ``(x - mean) * rstd`` in one kernel: one read and one write of the data,
    where the blocked path's separate kernels would read it six times. Its CPU
    kernel writes ``x * rstd - mean * rstd``, which cancels in float32 for
    windows far from 0, so the CPU keeps the blocked path.
    """
    return x.device.type == "cuda"


def _overlaps(x, out) -> bool:
    return x.device == out.device and (
        x.untyped_storage().data_ptr() == out.untyped_storage().data_ptr()
    )


def _layer_norm(x, out, eps, eps_mode, gamma, beta):
    """Normalize with ``native_layer_norm``; return the output and the statistics.

    The kernel adds its eps to the variance. With ``eps_mode="add"`` that is
    the definition; with ``"clamp"`` it runs with eps 0, which gives the exact
    scale of every window whose variance is at least eps, and the windows below
    it (constant ones included) or with NaN are recomputed from ``x`` by the
    general path: few in practice, so their cost is small. The kernel writes a
    new tensor, returned when ``out`` is None (otherwise copied into ``out``,
    which must not overlap ``x``).
    """
    with torch.no_grad():
        x3 = _as_instances(x)
        n_instances, n_variates, n_steps = x3.shape
        rows = x3.reshape(n_instances * n_variates, n_steps)
        single = n_variates == 1
        weight = gamma.expand(n_steps).contiguous() if single else None
        bias = beta.expand(n_steps).contiguous() if single else None
        result, mean, rstd = torch.native_layer_norm(
            rows, [n_steps], weight, bias, eps if eps_mode == "add" else 0.0
        )
        mean = mean.view(n_instances, n_variates).to(x.dtype)
        rstd = rstd.view(n_instances, n_variates).to(x.dtype)
        result3 = result.view(n_instances, n_variates, n_steps)
        if not single and bool(((gamma != 1) | (beta != 0)).any()):
            result3.mul_(gamma.unsqueeze(-1)).add_(beta.unsqueeze(-1))
        scale = rstd.reciprocal()
        variance = scale.square()
        if eps_mode == "add":
            variance = variance.sub_(eps).clamp_(min=0)
            # rstd 0 or NaN: a variance that overflowed (redone, to raise).
            redo = ~torch.isfinite(mean) | ~(rstd > 0)
        else:
            # NaN rstd (NaN input) and inf rstd (zero variance) are redone too.
            # rstd 0: a variance that overflowed (redone, to raise).
            redo = ~torch.isfinite(mean) | ~(rstd <= 1 / math.sqrt(eps)) | ~(rstd > 0)
        index = redo.view(-1).nonzero().squeeze(1)
        if index.numel():
            variate = index % n_variates
            redone = rows.index_select(0, index).unsqueeze(1)
            normalized = torch.empty_like(redone)
            loc_r, scale_r, variance_r = _block(
                redone,
                normalized,
                eps,
                eps_mode,
                "mean",
                gamma[variate].unsqueeze(-1),
                beta[variate].unsqueeze(-1),
                True,
            )
            result.index_copy_(0, index, normalized.squeeze(1))
            for full, part in ((mean, loc_r), (scale, scale_r), (variance, variance_r)):
                full.view(-1).index_copy_(0, index, part.view(-1))
        if out is not None:
            out.copy_(result.view(out.shape))
            result = out
        else:
            result = result.view(x.shape)
    shape = x.shape[:-1]
    return result, WindowStatistics(
        mean.reshape(shape), scale.reshape(shape), variance.reshape(shape)
    )
