"""The RevIN arithmetic, in torch: statistics, normalization and its inverse.

This is the one place where the numbers of reversible instance normalization
are computed. :class:`~sklearn_revin.RevINTransformer`, the regressor and the
torch module :class:`sklearn_revin.nn.RevIN` all call these functions, so a fix
here is a fix everywhere.

Layout: data tensors are ``(..., n_variates, n_steps)``; per-instance
statistics are ``(..., n_variates)``; ``gamma`` and ``beta`` are
``(n_variates,)``. Every function works on any device and is differentiable
when called without ``out``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = [
    "CENTERS",
    "EPS_MODES",
    "WindowStatistics",
    "denormalize",
    "effective_gamma",
    "normalize",
    "window_statistics",
]

EPS_MODES = ("clamp", "add")
CENTERS = ("mean", "last")


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
) -> WindowStatistics:
    """Compute the location and scale of each window over its last axis.

    Parameters
    ----------
    x : torch.Tensor of shape (..., n_steps)
        Floating point windows. NaN values are ignored; a window made only of
        NaN gets NaN statistics. Infinite values raise ``ValueError``.
    eps : float
        Lower bound of the variance (``eps_mode="clamp"``) or constant added
        to it (``eps_mode="add"``).
    eps_mode : {"clamp", "add"}, default="clamp"
        ``scale = sqrt(max(var, eps))`` or ``scale = sqrt(var + eps)``; ``var``
        is the biased (population) variance.
    center : {"mean", "last"}, default="mean"
        What is subtracted: the window mean, or its last observed value.

    Returns
    -------
    statistics : WindowStatistics
        ``loc`` and ``scale`` of shape ``(...)``, and the biased ``variance``.
    """
    if eps_mode not in EPS_MODES:
        raise ValueError(f"eps_mode must be one of {EPS_MODES}, got {eps_mode!r}.")
    if center not in CENTERS:
        raise ValueError(f"center must be one of {CENTERS}, got {center!r}.")
    # var_mean is a numerically stable one-pass reduction (it does not form
    # E[x**2] - E[x]**2, which loses float32 data with a large offset). A NaN or
    # an infinity in a window shows up as a non-finite mean, so clean windows
    # never pay for the NaN-aware path.
    variance, mean = torch.var_mean(x, dim=-1, correction=0)
    nonfinite = ~torch.isfinite(mean)
    if bool(nonfinite.any()):
        mean, variance = _patch_nonfinite_windows(x, mean, variance, nonfinite)
    if eps_mode == "clamp":
        scale = variance.clamp(min=eps).sqrt()
    else:
        scale = (variance + eps).sqrt()
    loc = mean if center == "mean" else _last_observed(x)
    return WindowStatistics(loc=loc, scale=scale, variance=variance)


def _patch_nonfinite_windows(x, mean, variance, nonfinite):
    windows = x[nonfinite]
    if bool(torch.isinf(windows).any()):
        raise ValueError(
            "Input contains infinity. RevIN needs finite values to compute the "
            "statistics of a window (NaN is allowed: it is ignored in the "
            "statistics and kept in place)."
        )
    observed = ~torch.isnan(windows)
    count = observed.sum(dim=-1)
    window_mean = torch.where(observed, windows, 0).sum(dim=-1) / count
    deviation = torch.where(observed, windows - window_mean.unsqueeze(-1), 0)
    window_variance = deviation.square().sum(dim=-1) / count
    return (
        mean.masked_scatter(nonfinite, window_mean),
        variance.masked_scatter(nonfinite, window_variance),
    )


def _last_observed(x):
    last = x[..., -1]
    missing = torch.isnan(last)
    if not bool(missing.any()):
        return last
    steps = torch.arange(1, x.shape[-1] + 1, device=x.device)
    last_index = (steps * ~torch.isnan(x)).argmax(dim=-1, keepdim=True)
    return torch.gather(x, -1, last_index).squeeze(-1)


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
    # float32 data with a large offset accurate.
    factor = (gamma / scale).unsqueeze(-1)
    shift = beta.unsqueeze(-1)
    if out is None:
        return torch.addcmul(shift, x - loc.unsqueeze(-1), factor)
    torch.sub(x, loc.unsqueeze(-1), out=out)
    return out.mul_(factor).add_(shift)


def denormalize(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return ``(z - beta) / gamma * scale + loc``, the inverse of :func:`normalize`.

    ``z`` may have another number of steps than the windows the statistics
    come from (a forecast horizon). Shapes and ``out`` are as in
    :func:`normalize`.
    """
    factor = (scale / gamma).unsqueeze(-1)
    shift = loc.unsqueeze(-1)
    if out is None:
        return torch.addcmul(shift, z - beta.unsqueeze(-1), factor)
    torch.sub(z, beta.unsqueeze(-1), out=out)
    return out.mul_(factor).add_(shift)
