"""``torch.nn`` building blocks: the RevIN layer for models trained in torch."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import init

from ._functional import (
    CENTERS,
    EPS_MODES,
    denormalize,
    effective_gamma,
    masked_denormalize,
    masked_normalize,
    unmasked_normalize,
)

__all__ = ["RevIN", "Statistics"]


class Statistics(NamedTuple):
    """Statistics of a forward pass, named and shaped as in the reference layer.

    Attributes
    ----------
    mean : torch.Tensor of shape (..., num_variates, 1)
        Mean of each window (NaN ignored).
    variance : torch.Tensor of shape (..., num_variates, 1)
        Biased variance of each window (NaN ignored), before the eps clamp.
    gamma, beta : torch.Tensor of shape (num_variates, 1)
        The module's affine parameters.
    """

    mean: Tensor
    variance: Tensor
    gamma: Tensor
    beta: Tensor


class RevIN(nn.Module):
    r"""Reversible instance normalization, a drop-in for ``iTransformer.revin.RevIN``.

    Normalizes each window of each variate over its time axis and returns a
    function that maps a model's output back:

    .. math::

        z = \frac{x - \mu}{\sqrt{\max(\mathrm{Var}[x], \epsilon)}} \gamma + \beta

    The constructor, the parameter names and shapes (``gamma`` and ``beta`` of
    shape ``(num_variates, 1)``) and ``forward`` are those of the ``RevIN``
    layer of the ``itransformer`` package, so this module loads its state dicts
    and replaces it in a model. Unlike it, the reverse function is exact for
    windows whose variance is below ``eps``, ``gamma == 0`` gives no NaN (its
    magnitude is clamped at ``eps`` both ways), and a NaN is ignored in its
    window's statistics instead of turning the whole window into NaN. The
    arithmetic is that of :class:`sklearn_revin.RevINTransformer`.

    ``forward`` has no data-dependent Python branch: a model holding this
    layer exports with ``torch.export.export`` and ``torch.onnx.export``
    (both exporters) and compiles with ``torch.compile(fullgraph=True)``.
    It trains through missing values: NaN is kept out of the arithmetic, so
    when the loss masks the NaN outputs, the gradients of ``gamma``, ``beta``
    and every observed input are finite. An infinity, or values whose
    statistics overflow, cannot raise an error without a branch on the data:
    they make their window NaN, as in torch's normalization layers
    (:class:`sklearn_revin.RevINTransformer` raises).

    Parameters
    ----------
    num_variates : int
        Number of variates, the size of the second-to-last axis of the input.
    affine : bool, default=True
        Whether ``gamma`` and ``beta`` are learned (``requires_grad``). They
        exist either way, as in the reference layer.
    eps : float, default=1e-5
        Lower bound of the variance and of the magnitude of ``gamma``; a
        positive finite number.
    device : torch.device, optional
        Device of the parameters.
    dtype : torch.dtype, optional
        Dtype of the parameters.
    eps_mode : {"clamp", "add", "add_std"}, default="clamp"
        Keyword only. ``"clamp"`` scales by ``sqrt(max(var, eps))``, as the
        reference layer; ``"add"`` by ``sqrt(var + eps)``, as the original
        RevIN, PatchTST, Time-Series-Library, darts and neuralforecast;
        ``"add_std"`` by ``sqrt(var) + eps``, as tsai. The reverse function is
        exact either way.
    center : {"mean", "last"}, default="mean"
        Keyword only. Subtract each window's mean, or its last observed value
        (``subtract_last=True`` in PatchTST and Time-Series-Library); the
        reverse function adds back the same value, which ``Statistics.mean``
        then holds. Neither option changes the parameters' names or shapes.

    Attributes
    ----------
    gamma : torch.nn.Parameter of shape (num_variates, 1)
        Per-variate scale, initialized to 1.
    beta : torch.nn.Parameter of shape (num_variates, 1)
        Per-variate shift, initialized to 0.

    See Also
    --------
    sklearn_revin.RevINTransformer : The same normalization as a scikit-learn
        transformer.

    Examples
    --------
    >>> import torch
    >>> from sklearn_revin.nn import RevIN
    >>> revin = RevIN(num_variates=2)
    >>> x = torch.tensor([[[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]])  # batch, variates, time
    >>> normalized, reverse_fn = revin(x)
    >>> normalized.detach().numpy().round(3)
    array([[[-1.225,  0.   ,  1.225],
            [ 0.   ,  0.   ,  0.   ]]], dtype=float32)
    >>> reverse_fn(normalized).detach().numpy()
    array([[[1., 2., 3.],
            [5., 5., 5.]]], dtype=float32)
    """

    __constants__ = ["num_variates", "affine", "eps", "eps_mode", "center"]
    num_variates: int
    affine: bool
    eps: float
    eps_mode: str
    center: str

    def __init__(
        self,
        num_variates: int,
        affine: bool = True,
        eps: float = 1e-5,
        device=None,
        dtype=None,
        *,
        eps_mode: str = "clamp",
        center: str = "mean",
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        if eps_mode not in EPS_MODES:
            raise ValueError(f"eps_mode must be one of {EPS_MODES}; got {eps_mode!r}.")
        if center not in CENTERS:
            raise ValueError(f"center must be one of {CENTERS}; got {center!r}.")
        if not (isinstance(eps, Real) and math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a positive finite number; got {eps!r}.")
        self.num_variates = num_variates
        self.affine = affine
        self.eps = eps
        self.eps_mode = eps_mode
        self.center = center
        self.gamma = nn.Parameter(
            torch.empty(num_variates, 1, **factory_kwargs), requires_grad=affine
        )
        self.beta = nn.Parameter(
            torch.empty(num_variates, 1, **factory_kwargs), requires_grad=affine
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set ``gamma`` to 1 and ``beta`` to 0."""
        init.ones_(self.gamma)
        init.zeros_(self.beta)

    def forward(
        self, x: Tensor, return_statistics: bool = False
    ) -> (
        tuple[Tensor, Callable[[Tensor], Tensor]]
        | tuple[Tensor, Callable[[Tensor], Tensor], Statistics]
    ):
        """Normalize ``x`` and return the way back.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, num_variates, time)
            Windows to normalize; any leading axes are allowed before the last
            two.
        return_statistics : bool, default=False
            Also return the :class:`Statistics` of ``x``.

        Returns
        -------
        normalized : torch.Tensor of the shape of x
            ``x`` normalized per window, scaled by ``gamma``, shifted by ``beta``.
        reverse_fn : callable
            Maps a tensor of shape ``(batch, num_variates, horizon)`` (any
            horizon; more leading axes are allowed) back with the statistics
            of ``x``; another batch or number of variates is a ``ValueError``.
        statistics : Statistics
            Only with ``return_statistics=True``.
        """
        if x.ndim < 2 or x.shape[-2] != self.num_variates:
            raise ValueError(
                f"Expected input of shape (batch, {self.num_variates}, time); got "
                f"shape {tuple(x.shape)}."
            )
        if not x.is_floating_point():
            raise TypeError(
                "Expected a floating point tensor (float32, float64, ...); got "
                f"dtype {x.dtype}. Convert it first, e.g. x.float()."
            )
        # Eager calls on finite data (the common case) skip the NaN handling;
        # traced, exported and compiled graphs keep the branch-free path.
        options = {"eps": self.eps, "eps_mode": self.eps_mode, "center": self.center}
        fast = _eager(x)
        if fast:
            # The parameters as held, (V, 1), and the statistics kept as
            # (..., V, 1): no operator call spent on reshaping.
            gamma, beta = self._eager_affine()
            normalized, stats = unmasked_normalize(x, gamma, beta, **options)
            # One check on the statistics, not a pass over x: a NaN or an
            # infinity in a window makes its variance NaN, and so does a sum
            # that overflows; a sum of squares that overflows in the masked
            # path makes variance * n infinite. Those take the masked path.
            fast = _moments_fit(stats.variance, x.shape[-1])
        if not fast:
            gamma, beta = self._effective_affine()
            normalized, stats = masked_normalize(x, gamma, beta, **options)
        expected = tuple(x.shape[:-1])

        def reverse_fn(scaled_output: Tensor) -> Tensor:
            # Leading axes may be added (the itransformer model maps its output
            # back as (time, batch, variates, dim)); the axes the statistics
            # have must match, not broadcast.
            shape = tuple(scaled_output.shape)
            k = len(expected)
            if len(shape) <= k or shape[-k - 1 : -1] != expected:
                raise ValueError(
                    "reverse_fn expects a tensor of shape (..., "
                    f"{', '.join(map(str, expected))}, horizon), with the batch and "
                    f"variates of the normalized input; got shape {shape}."
                )
            # Values are the same either way; the masked path only keeps a NaN
            # of scaled_output out of the gradients, so only they need it.
            tracked = torch.is_grad_enabled() and any(
                t.requires_grad for t in (scaled_output, stats.loc, stats.scale, gamma)
            )
            # A NaN makes the sum NaN (an overflow to infinity only sends
            # finite values to the masked path, same values): one call.
            if _eager(scaled_output) and not (
                tracked and math.isnan(scaled_output.sum().item())
            ):
                return denormalize(
                    scaled_output, stats.loc, stats.scale, gamma, beta, keepdim=fast
                )
            if fast:  # the masked map takes (..., V) statistics
                return masked_denormalize(
                    scaled_output,
                    stats.loc.squeeze(-1),
                    stats.scale.squeeze(-1),
                    gamma.squeeze(-1),
                    beta.squeeze(-1),
                )
            return masked_denormalize(
                scaled_output, stats.loc, stats.scale, gamma, beta
            )

        if not return_statistics:
            return normalized, reverse_fn
        loc, variance = stats.loc, stats.variance
        if not fast:  # the masked path's (..., V)
            loc, variance = loc.unsqueeze(-1), variance.unsqueeze(-1)
        statistics = Statistics(loc, variance, self.gamma, self.beta)
        return normalized, reverse_fn, statistics

    def _effective_affine(self) -> tuple[Tensor, Tensor]:
        return effective_gamma(self.gamma.squeeze(-1), self.eps), self.beta.squeeze(-1)

    def _eager_affine(self) -> tuple[Tensor, Tensor]:
        """Return (gamma, beta) as (V, 1) for the eager path.

        ``gamma`` itself where no magnitude is below eps: then
        :func:`effective_gamma` is the identity, gradients included, and one
        reduction checks it where the clamp would take five calls forward and
        five backward. (Not cached: a change through ``gamma.data`` leaves no
        trace on the parameter.)
        """
        gamma = self.gamma
        with torch.no_grad():
            clear = gamma.abs().amin().item() >= self.eps
        if clear:
            return gamma, self.beta
        return effective_gamma(gamma, self.eps), self.beta

    def extra_repr(self) -> str:
        """Describe the module's settings for ``repr``."""
        text = "{num_variates}, affine={affine}, eps={eps}".format(**self.__dict__)
        if self.eps_mode != "clamp":
            text += f", eps_mode={self.eps_mode!r}"
        if self.center != "mean":
            text += f", center={self.center!r}"
        return text


def _eager(x: Tensor) -> bool:
    """Return True for a plain tensor outside tracing, export and compilation.

    Only there may the layer branch on the data: fake, functional and proxy
    tensors (export, ``make_fx``, FX) are other types, and ``torch.compile``
    and the TorchScript tracer say so.
    """
    return (
        type(x) in (Tensor, nn.Parameter)
        and not torch.compiler.is_compiling()
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
    )


def _moments_fit(variance: Tensor, n_steps: int) -> bool:
    """Return True when no variance is NaN and ``variance * n_steps`` is finite.

    One reduction: the sum of the variances is NaN when one is, and bounds
    each of them (a sum past the limit sends finite windows to the masked
    path: the same values, slower).
    """
    with torch.no_grad():
        total = variance.sum().item()
    return total * n_steps <= torch.finfo(variance.dtype).max
