"""RevINTransformer: reversible instance normalization as a scikit-learn transformer."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    validate_data,
)

from . import _dask, _misuse
from ._backend import (
    as_tensor_like,
    check_array_namespace,
    check_holds_data,
    is_tensor,
    resolve_device,
    run_on_device,
    to_numpy,
)
from ._checkpoint import ObjectWithModel, find_revin_layer
from ._functional import (
    apply_statistics,
    denormalize,
    effective_gamma,
    normalize,
    normalize_windows,
    window_statistics,
)
from ._layout import parse_input_names, resolve_passthrough
from ._validation import (
    FLOAT_DTYPES,
    check_dense_tensor,
    check_no_self_overlap,
    check_statistics_values,
    check_window_axes,
    is_checked_float_array,
)
from .nn import RevIN

__all__ = ["InstanceStatistics", "RevINTransformer"]

# A single column is a window of one step, which normalizes to beta whatever
# its value: refused, with the reason, since that is what the target-transform
# hooks of forecasting libraries pass (the series as one column, one step per
# row). Several variates of one step each (width n_variates) stay allowed.
_ONE_STEP = (
    "RevINTransformer got X with {n_features} feature(s), which makes windows "
    "of 1 step: each value would be normalized by its own mean and scale to beta (0), "
    "whatever its value, and the series would come out as a constant. RevIN "
    "normalizes each row as a window of several steps. A single target column "
    "with one time step per row, as TransformedTargetRegressor(transformer=...), "
    "skforecast's transformer_y, mlforecast's GlobalSklearnTransformer and "
    "sktime's TabularToSeriesAdaptor pass it, is not a window: use "
    "RevINRegressor(regressor) as the model instead, which normalizes each "
    "input window and its targets with that window's statistics, on windows of "
    "several steps (make_windows(series, window=24, horizon=...))."
)


class InstanceStatistics(NamedTuple):
    """Statistics of each instance (window) and variate.

    Both fields have shape ``(n_instances, n_variates)``, in float64 (so that
    values normalized with them are as accurate as the input's precision
    allows, float32 windows far from zero included). They are NumPy arrays,
    or tensors on the input's device when the input was a ``torch.Tensor``.

    Attributes
    ----------
    mean : ndarray or torch.Tensor of shape (n_instances, n_variates)
        What is subtracted from each window: its mean over its steps (NaN
        ignored), or its last observed value with ``center="last"``.
    scale : ndarray or torch.Tensor of shape (n_instances, n_variates)
        ``sqrt(max(variance, eps))``, or ``sqrt(variance + eps)`` with
        ``eps_mode="add"``, of the biased variance (NaN ignored).
    """

    mean: Any
    scale: Any


class RevINTransformer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    r"""Reversible instance normalization (RevIN) of time-series windows.

    Each row of ``X`` is an instance: a window of ``n_steps`` values of
    ``n_variates`` series. Every window is normalized by its own statistics,

    .. math::

        z = \frac{x - \mu}{\sigma} \gamma + \beta, \qquad
        \sigma = \sqrt{\max(\mathrm{Var}[x], \epsilon)},

    with the mean :math:`\mu` and the biased variance taken over the steps of
    one window of one variate, and a per-variate affine :math:`\gamma`,
    :math:`\beta`. A model then works on ``z``, and
    :meth:`inverse_transform` maps its output (of any horizon) back with the
    same instances' statistics. This is the RevIN of Kim et al. (ICLR 2022), as
    the ``RevIN`` layer of the ``itransformer`` package computes it, with its
    flaws fixed (see Notes).

    Parameters
    ----------
    n_variates : int, default=None
        Number of variates in each window. For 2-D ``X`` of shape
        ``(n_instances, n_variates * n_steps)`` the columns are variate-major:
        the first ``n_steps`` columns are variate 0, the next variate 1, and so
        on; ``None`` reads it from column names in the layout of
        :func:`make_windows` (``name[t-k]``) where ``X`` has them, else means
        one variate. For 3-D ``X`` of shape
        ``(n_instances, n_variates, n_steps)``, ``None`` takes the middle axis,
        and a number must match it.
    gamma : array-like of shape (n_variates,), default=None
        Per-variate scale applied after normalization; ``None`` means 1. A
        magnitude below ``eps`` (0 included) is raised to ``eps``, keeping the
        sign (0 becomes ``+eps``), with a warning, so that the inverse is
        finite and exact.
    beta : array-like of shape (n_variates,), default=None
        Per-variate shift applied after normalization; ``None`` means 0.
    checkpoint : str, os.PathLike, Mapping, torch.nn.Module or object, default=None
        Where to take the learned ``gamma`` and ``beta`` from, at :meth:`fit`:
        a torch file (any extension; read with ``torch.load(weights_only=True)``
        only, the classes its pickle names replaced by inert stand-ins), a
        safetensors file (any extension), a directory written by
        ``NeuralForecast.save``, a state dict, a trained ``torch.nn.Module``
        or an object whose ``.model`` is one (a darts forecasting model). The
        one RevIN layer in it is found by its parameter names
        (``gamma``/``beta`` of shape ``(V, 1)``, ``affine_weight``/
        ``affine_bias`` of shape ``(V,)`` or ``(1, 1, V)``, or tsai's
        ``weight``/``bias`` of shape ``(1, V, 1)`` in a layer named for
        RevIN), also under ``"state_dict"`` (PyTorch Lightning), ``"model"``,
        ``"model_state_dict"`` or ``"module"``, and behind the ``module.`` and
        ``_orig_mod.`` prefixes. Cannot be combined with ``gamma`` or
        ``beta``. See :meth:`from_checkpoint` and the :ref:`checkpoints` page.
    checkpoint_key : str, default=None
        Name of the RevIN layer in ``checkpoint``, e.g.
        ``"model.revin_layer"``, or its end (``"revin_layer"``); needed when
        the checkpoint holds several RevIN layers.
    eps : float or "auto", default="auto"
        Lower bound of the variance (or the constant added to it, see
        ``eps_mode``), so that constant windows are not divided by zero; also
        the smallest magnitude of ``gamma``. ``"auto"`` takes the eps the
        checkpoint records (the layer's ``eps`` attribute of a module, darts'
        ``use_reversible_instance_norm={"eps": ...}``), else 1e-5, the
        default of the ``itransformer`` package and the original RevIN. A
        value that contradicts the checkpoint is used, with a warning.
    eps_mode : {"auto", "clamp", "add", "add_std"}, default="auto"
        How eps enters the scale: ``"clamp"`` is
        ``sqrt(max(var, eps))``, as the ``itransformer`` package computes it;
        ``"add"`` is ``sqrt(var + eps)``, as the original RevIN, PatchTST,
        Time-Series-Library, darts and neuralforecast compute it;
        ``"add_std"`` is ``sqrt(var) + eps``, as tsai computes it. ``"auto"``
        follows the source of gamma and beta: ``"add"`` for a checkpoint with
        ``affine_weight``/``affine_bias``, ``"add_std"`` for tsai's
        ``weight``/``bias``, ``"clamp"`` otherwise. The inverse is exact
        whichever mode.
    center : {"auto", "mean", "last"}, default="auto"
        What is subtracted from each window: its mean, or its last observed
        value, as PatchTST and Time-Series-Library models trained with
        ``subtract_last=True`` do (the scale is still the standard deviation).
        :meth:`inverse_transform` adds back the same value. ``"auto"`` takes
        what the checkpoint records (the layer's ``subtract_last``, or
        ``revin_subtract_last``/``subtract_last`` among its hyper-parameters),
        else ``"mean"``. A value that contradicts the checkpoint is used, with
        a warning.
    inverse : {"exact", "source"}, default="exact"
        How :meth:`inverse_transform` divides by ``gamma``: ``"exact"`` is the
        exact inverse of :meth:`transform`; ``"source"`` reproduces the source
        layer's own way back, which for the original RevIN, PatchTST,
        Time-Series-Library, darts and neuralforecast's ``RevIN`` divides by
        ``affine_weight + eps**2`` (their ``affine_weight``/``affine_bias``
        of shape ``(V,)``); other sources, and no checkpoint, divide exactly.
    step_order : {"oldest_first", "newest_first"}, default="oldest_first"
        Order of the steps within each variate's window: ``"oldest_first"``
        as :func:`make_windows` lays them out (``t-2, t-1, t``), or
        ``"newest_first"`` as skforecast and mlforecast name their lags
        (``lag_1, lag_2, ...``). It decides which value ``center="last"``
        subtracts (the newest); the mean and scale do not depend on it, and
        the output keeps the column order of X. Column names that say the
        other order (``name[t-k]``, ``lag_k``) are an error at fit.
    passthrough : int, str, array-like of int, str or bool, default=None
        Columns of 2-D X that are not steps of a window (exogenous variables,
        calendar or window features, a series id): by index, by name (for X
        with column names) or as a boolean mask of ``n_features_in_`` values.
        They stay out of every statistic and come out of :meth:`transform`
        unchanged, in place; the other columns are the windows, with the
        layout ``n_variates`` describes.
    device : "auto", str or torch.device, default="auto"
        Where to compute. ``"auto"`` computes a tensor on its own device, and
        NumPy data on the CPU, where RevIN costs about one copy of the data
        (a GPU would add a transfer each way). ``"cpu"``,
        ``"cuda"``, ``"cuda:1"`` or a ``torch.device`` choose explicitly; a
        device this machine lacks is a ``ValueError`` at fit.
    copy : bool, default=True
        If False, :meth:`transform` and :meth:`inverse_transform` write into a
        writable floating point NumPy array or tensor instead of a new one,
        whatever its strides: an array torch cannot view (negative strides,
        such as a reversed view) is computed in a copy that is then copied
        into it. Infinite values are found in the same pass that normalizes, so with
        ``copy=False`` the ``ValueError`` for an infinity can come after part
        of X was already normalized in place. A view whose elements share
        memory (``expand()``, ``as_strided()``) is refused with ``copy=False``.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during :term:`fit` (the middle axis of 3-D X).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, for X with string column
        names only.
    n_variates_ : int
        Number of variates per window.
    n_steps_ : int
        Number of steps per window.
    passthrough_ : ndarray of int
        Indices of the columns passed through unchanged (empty without
        ``passthrough``).
    variate_names_ : ndarray of str or None
        Names of the variates, read from column names in the layout
        :func:`make_windows` gives (``name[t-k]``); None otherwise. With
        such names, ``n_variates`` is inferred from them (and checked when
        given), and the step order is checked against ``step_order``.
    gamma_ : ndarray of shape (`n_variates_`,)
        Effective per-variate scale, after clamping its magnitude at ``eps``.
    beta_ : ndarray of shape (`n_variates_`,)
        Per-variate shift.
    eps_ : float
        The eps in use, resolved from ``"auto"``.
    eps_mode_ : {"clamp", "add", "add_std"}
        The ``eps_mode`` in use, resolved from ``"auto"``.
    center_ : {"mean", "last"}
        The ``center`` in use, resolved from ``"auto"``.
    inverse_ : {"exact", "eps_squared"}
        How :meth:`inverse_transform` divides by ``gamma``: by ``gamma``, or
        by ``gamma + eps_**2`` (``inverse="source"`` for such a source).
    settings_origin_ : dict
        Where ``eps_`` and ``center_`` come from, keyed ``"eps"`` and
        ``"center"``: ``"parameter"``, ``"default"`` or ``"checkpoint (...)"``
        naming what in the checkpoint records it.
    checkpoint_key_ : str or None
        Name of the RevIN layer read from ``checkpoint`` (``""`` for a state
        dict of the layer alone); None without a checkpoint.
    mean_ : ndarray of shape (n_instances, `n_variates_`)
        Mean (or last value, with ``center="last"``) of each window of the
        data seen by :meth:`fit` or :meth:`fit_transform`; used by
        :meth:`inverse_transform`. float64 (see Notes).
    scale_ : ndarray of shape (n_instances, `n_variates_`)
        Scale ``sqrt(max(variance, eps))`` (or ``sqrt(variance + eps)``) of
        each window of that data.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : Standardizes each feature over all
        samples, instead of each sample over its own steps.
    sklearn.preprocessing.Normalizer : Scales each sample to unit norm, with no
        way back.
    sklearn_revin.nn.RevIN : The same arithmetic as a ``torch.nn.Module``.

    Notes
    -----
    Differences from the ``itransformer`` reference layer, each on purpose:

    - the inverse uses the same clamped scale as the forward pass, so windows
      whose variance is below ``eps`` (constant windows) come back exactly;
    - ``gamma == 0`` is clamped to ``+eps`` in both directions instead of
      giving NaN;
    - NaN values are ignored in the statistics and stay NaN in place, so one
      missing value no longer turns its whole window into NaN; an infinite
      value raises ``ValueError``.

    A model trained with the original RevIN (ts-kim/RevIN) or its copies
    (PatchTST, Time-Series-Library, darts, neuralforecast's ``RevIN``)
    divides by ``affine_weight + eps**2`` on the way back; this transformer
    keeps the exact inverse of its own forward pass and divides by ``gamma``
    (its magnitude clamped at ``eps``), unless ``inverse="source"``. The two
    differ by a relative ``eps**2 / gamma``, about 1e-10 for ``gamma`` near 1.
    A bare state dict stores neither eps nor ``subtract_last``: where the
    checkpoint does not record them (see ``settings_origin_``), set ``eps``
    and ``center`` to the values the model was trained with.

    Statistics are computed in the input's precision with a numerically stable
    reduction, so float32 windows with a large offset stay accurate; the
    statistics that are kept (``mean_``, ``scale_``, :meth:`instance_statistics`)
    are float64, and :meth:`normalize_with` and :meth:`inverse_transform` of
    float32 values use them at float32 cost (the mean's float32 rounding is
    carried by a per-instance shift).

    A dask array chunked by rows is accepted by every method and gives lazy
    dask arrays, computed chunk by chunk; after :meth:`fit` on dask input,
    ``mean_`` and ``scale_`` are lazy dask arrays too (see the scaling page).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_revin import RevINTransformer
    >>> X = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 30.0, 30.0]])
    >>> revin = RevINTransformer()
    >>> Z = revin.fit_transform(X)
    >>> Z.round(3)
    array([[-1.342, -0.447,  0.447,  1.342],
           [-1.   , -1.   ,  1.   ,  1.   ]])
    >>> revin.mean_.ravel(), revin.scale_.ravel().round(3)
    (array([ 2.5, 20. ]), array([ 1.118, 10.   ]))
    >>> revin.inverse_transform(Z[:, -2:])  # a model's 2-step output
    array([[ 3.,  4.],
           [30., 30.]])
    """

    _parameter_constraints: dict = {
        "n_variates": [Interval(Integral, 1, None, closed="left"), None],
        "gamma": ["array-like", None],
        "beta": ["array-like", None],
        "checkpoint": [
            str,
            os.PathLike,
            Mapping,
            torch.nn.Module,
            ObjectWithModel,
            None,
        ],
        "checkpoint_key": [str, None],
        "eps": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "eps_mode": [StrOptions({"auto", "clamp", "add", "add_std"})],
        "center": [StrOptions({"auto", "mean", "last"})],
        "inverse": [StrOptions({"exact", "source"})],
        "step_order": [StrOptions({"oldest_first", "newest_first"})],
        "passthrough": [Integral, str, "array-like", None],
        "device": [str, torch.device],
        "copy": ["boolean"],
    }

    def __init__(
        self,
        *,
        n_variates: int | None = None,
        gamma=None,
        beta=None,
        checkpoint: str | os.PathLike | Mapping | torch.nn.Module | None = None,
        checkpoint_key: str | None = None,
        eps: float | str = "auto",
        eps_mode: str = "auto",
        center: str = "auto",
        inverse: str = "exact",
        step_order: str = "oldest_first",
        passthrough=None,
        device: str | torch.device = "auto",
        copy: bool = True,
    ):
        self.n_variates = n_variates
        self.gamma = gamma
        self.beta = beta
        self.checkpoint = checkpoint
        self.checkpoint_key = checkpoint_key
        self.eps = eps
        self.eps_mode = eps_mode
        self.center = center
        self.inverse = inverse
        self.step_order = step_order
        self.passthrough = passthrough
        self.device = device
        self.copy = copy

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the layout, the affine parameters and the statistics of X.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_instances, n_features) \
                or (n_instances, n_variates, n_steps)
            Windows; see ``n_variates`` for the 2-D layout. NaN is allowed.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        if _dask.is_dask_collection(X):
            return self._fit_dask(X)
        self._fit(X, y, transform=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit to X and return X normalized with its own statistics.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_instances, n_features) \
                or (n_instances, n_variates, n_steps)
            Windows; see ``n_variates`` for the 2-D layout. NaN is allowed.
        y : None
            Ignored.

        Returns
        -------
        X_new : ndarray or torch.Tensor of the same shape as X
            Normalized windows; float32 stays float32, other types become
            float64.
        """
        if _dask.is_dask_collection(X):
            return _dask.transform(self._fit_dask(X), X)
        return self._fit(X, y, transform=True)

    def transform(self, X, copy: bool | None = None):
        """Normalize each window of X by its own statistics.

        The fitted statistics are left as they are: X may hold other windows
        than the data seen by :meth:`fit`.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_instances, n_features) \
                or (n_instances, n_variates, n_steps)
            Windows with the layout seen by :meth:`fit`. NaN is allowed.
        copy : bool, default=None
            Copy X or normalize it in place; None uses ``self.copy``.

        Returns
        -------
        X_new : ndarray or torch.Tensor of the same shape as X
            Normalized windows.
        """
        if _dask.is_dask_collection(X):
            return _dask.transform(self, X)
        check_is_fitted(self)
        copy = self.copy if copy is None else copy
        X = self._validate_X(X, reset=False, copy=copy)
        self._check_layout(X)
        return self._normalize(X, copy=copy, keep_statistics=False)[0]

    def instance_statistics(self, X) -> InstanceStatistics:
        """Return the per-instance statistics of X, for an inverse of new data.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_instances, n_features) \
                or (n_instances, n_variates, n_steps)
            Input windows with the layout seen by :meth:`fit`.

        Returns
        -------
        statistics : InstanceStatistics
            ``mean`` and ``scale``, each of shape ``(n_instances, n_variates_)``;
            pass it to ``inverse_transform(Y, statistics=...)``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_revin import RevINTransformer
        >>> revin = RevINTransformer().fit(np.zeros((1, 4)))
        >>> X_new = np.array([[1.0, 2.0, 3.0, 4.0]])
        >>> stats = revin.instance_statistics(X_new)
        >>> stats.mean, stats.scale.round(3)
        (array([[2.5]]), array([[1.118]]))
        >>> revin.inverse_transform(np.array([[2.0]]), statistics=stats).round(3)
        array([[4.736]])
        """
        if _dask.is_dask_collection(X):
            return InstanceStatistics(*_dask.instance_statistics(self, X))
        check_is_fitted(self)
        # Only read: copy=True keeps a read-only X (make_windows' view) as it is.
        X = self._validate_X(X, reset=False, copy=True)
        self._check_layout(X)
        _, mean, scale = self._normalize(X, copy=False, statistics_only=True)
        if is_tensor(X):
            return InstanceStatistics(mean.to(X.device), scale.to(X.device))
        return InstanceStatistics(to_numpy(mean), to_numpy(scale))

    def inverse_transform(
        self,
        X,
        *,
        variates: Sequence[int] | None = None,
        statistics: InstanceStatistics | tuple | None = None,
        copy: bool | None = None,
    ):
        """Map normalized values back with each instance's statistics.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_instances, n_outputs) \
                or (n_instances, n_selected_variates, n_horizon)
            Normalized values, often a model's forecast: the horizon may
            differ from ``n_steps_``. In 2-D, columns are variate-major, so
            ``n_outputs`` must be a multiple of the number of variates.
        variates : sequence of int, default=None
            Which variates X holds, in order, e.g. ``[0]`` for a univariate
            forecast of a multivariate input; None means all of them.
        statistics : InstanceStatistics or (mean, scale), default=None
            Statistics of the instances X belongs to, each of shape
            ``(n_instances, n_variates_)``, as :meth:`instance_statistics`
            returns them; None uses those of the data seen by :meth:`fit`.
        copy : bool, default=None
            Copy X or write into it; None uses ``self.copy``.

        Returns
        -------
        X_original : ndarray or torch.Tensor of the same shape as X
            Values on the scale of the original series.

        See Also
        --------
        normalize_with : The forward map with given statistics.
        """
        if _dask.is_dask_collection(X):
            return _dask.map_with_statistics(
                self,
                X,
                "inverse_transform",
                variates=variates,
                statistics=self._check_statistics(statistics),
            )
        return self._map_with_statistics(
            X, denormalize, variates=variates, statistics=statistics, copy=copy
        )

    def normalize_with(
        self,
        X,
        statistics: InstanceStatistics | tuple | None = None,
        *,
        variates: Sequence[int] | None = None,
        copy: bool | None = None,
    ):
        """Normalize X with given per-instance statistics, not X's own.

        The exact counterpart of ``inverse_transform(X, statistics=...,
        variates=...)``: ``(X - mean) / scale * gamma + beta`` with each
        instance's statistics, for values that belong to an instance without
        being its input window, such as the forecast targets that follow it.
        This is how a model learns targets in normalized space.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_instances, n_outputs) \
                or (n_instances, n_selected_variates, n_horizon)
            Values on the scale of the original series; the horizon may
            differ from ``n_steps_``. In 2-D, columns are variate-major, so
            ``n_outputs`` must be a multiple of the number of variates.
        statistics : InstanceStatistics or (mean, scale), default=None
            Statistics of the instances X belongs to, each of shape
            ``(n_instances, n_variates_)``, as :meth:`instance_statistics`
            returns them; None uses those of the data seen by :meth:`fit`.
        variates : sequence of int, default=None
            Which variates X holds, in order, e.g. ``[0]`` for a univariate
            target of a multivariate input; None means all of them.
        copy : bool, default=None
            Copy X or write into it; None uses ``self.copy``.

        Returns
        -------
        X_new : ndarray or torch.Tensor of the same shape as X
            Normalized values.

        See Also
        --------
        inverse_transform : The inverse map, with the same arguments.
        transform : Normalizes input windows with their own statistics.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_revin import RevINTransformer
        >>> X = np.array([[1.0, 2.0, 3.0, 4.0]])  # an input window
        >>> Y = np.array([[5.0, 6.0]])  # the two steps that follow it
        >>> revin = RevINTransformer().fit(X)
        >>> stats = revin.instance_statistics(X)
        >>> Y_z = revin.normalize_with(Y, stats)
        >>> Y_z.round(3)
        array([[2.236, 3.13 ]])
        >>> revin.inverse_transform(Y_z, statistics=stats)
        array([[5., 6.]])
        """
        if _dask.is_dask_collection(X):
            return _dask.map_with_statistics(
                self,
                X,
                "normalize_with",
                variates=variates,
                statistics=self._check_statistics(statistics),
            )
        return self._map_with_statistics(
            X, normalize, variates=variates, statistics=statistics, copy=copy
        )

    def _map_with_statistics(self, X, function, *, variates, statistics, copy):
        """Apply ``normalize`` or ``denormalize`` to X with given statistics."""
        check_is_fitted(self)
        copy = self.copy if copy is None else copy
        variates = self._check_variates(variates)
        mean, scale = self._check_statistics(statistics)
        X = _validate_array(X, name="X", copy=copy)
        if X.ndim != 2 and X.ndim != 3:
            raise ValueError(
                "X must be 2-D (n_instances, n_variates * n_horizon) or 3-D "
                f"(n_instances, n_variates, n_horizon); got shape {tuple(X.shape)}."
            )
        check_window_axes(X)
        if not copy:
            check_no_self_overlap(X)
        n_selected = len(variates)
        if X.ndim == 3 and X.shape[1] != n_selected:
            raise ValueError(
                f"X has shape {tuple(X.shape)}: its middle axis holds "
                f"{X.shape[1]} variate(s), but {n_selected} were expected "
                f"(variates={variates.tolist()})."
            )
        if X.ndim == 2 and X.shape[1] % n_selected:
            raise ValueError(
                f"X has {X.shape[1]} column(s), which is not a multiple of the "
                f"{n_selected} variate(s) it should hold (variates="
                f"{variates.tolist()}); 2-D X is variate-major, "
                "n_variates * n_horizon columns."
            )
        if X.shape[0] != mean.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} instance(s) (rows), but the statistics are "
                f"for {mean.shape[0]} instance(s). Pass the statistics of X's "
                "input windows with statistics=revin.instance_statistics(X_in)."
            )

        if np.array_equal(variates, np.arange(self.n_variates_)):
            variates = slice(None)  # views of the statistics, not copies
        # The way back may reproduce the source's division (see ``inverse``).
        options = (
            {"inverse": self.inverse_, "eps": self.eps_}
            if function is denormalize
            else {}
        )

        def compute(source, out):
            return apply_statistics(
                function,
                source,
                mean[:, variates],
                scale[:, variates],
                self.gamma_[variates],
                self.beta_[variates],
                out=out,
                **options,
            )

        return self._apply(X, n_selected, compute, copy=copy)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | os.PathLike | Mapping | torch.nn.Module,
        key: str | None = None,
        **params,
    ) -> RevINTransformer:
        """Build a transformer with the learned gamma and beta of a trained model.

        The checkpoint is read now, so that a wrong file or key fails at once,
        and only its RevIN layer's two entries are kept, as NumPy arrays: the
        returned transformer's ``checkpoint`` is that small state dict and its
        ``checkpoint_key`` the layer's name. The eps and ``subtract_last``
        the checkpoint records become its ``eps`` and ``center``, unless given
        in ``params``. It needs neither the file nor the
        model afterwards, and it clones and pickles cheaply. It still has to be
        fitted, which checks the number of variates against the data.

        Parameters
        ----------
        checkpoint : str, os.PathLike, Mapping or torch.nn.Module
            A torch or ``.safetensors`` file, a state dict or a module; see the
            ``checkpoint`` parameter.
        key : str, default=None
            Name of the RevIN layer, needed when there are several; see
            ``checkpoint_key``.
        **params
            Other constructor parameters, e.g. ``eps``, ``center`` or
            ``n_variates``.

        Returns
        -------
        transformer : RevINTransformer
            An unfitted transformer.

        Examples
        --------
        >>> import numpy as np
        >>> import torch
        >>> from sklearn_revin import RevINTransformer
        >>> state_dict = {
        ...     "revin.gamma": torch.tensor([[2.0], [0.5]]),
        ...     "revin.beta": torch.tensor([[1.0], [0.0]]),
        ...     "head.weight": torch.ones(3, 4),
        ... }
        >>> revin = RevINTransformer.from_checkpoint(state_dict)
        >>> revin.checkpoint_key
        'revin'
        >>> X = np.array([[[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 2.0, 2.0]]])
        >>> revin.fit_transform(X).round(3)
        array([[[-1.683,  0.106,  1.894,  3.683],
                [-0.5  , -0.5  ,  0.5  ,  0.5  ]]])
        """
        layer = find_revin_layer(checkpoint, key=key)
        for name, (value, where) in layer.recorded.items():
            given = params.setdefault(name, value)  # what the checkpoint records
            _warn_if_contradicted(name, given, value, where, stacklevel=3)
        return cls(checkpoint=layer.stored, checkpoint_key=layer.key, **params)

    def to_module(self, *, device=None, dtype=None) -> RevIN:
        """Return a torch RevIN layer with this transformer's parameters.

        The module's state dict has the names and shapes of the ``itransformer``
        package's ``RevIN`` (``gamma`` and ``beta`` of shape
        ``(n_variates_, 1)``), so it loads into that layer too, which always
        uses ``eps_mode="clamp"`` and ``center="mean"``. The module itself
        computes with this transformer's ``eps``, ``eps_mode_`` and ``center``.

        Parameters
        ----------
        device : torch.device, default=None
            Device of the module's parameters.
        dtype : torch.dtype, default=None
            Dtype of the module's parameters; None is torch's default (float32).

        Returns
        -------
        module : sklearn_revin.nn.RevIN
            Carrying ``gamma_`` and ``beta_`` as its ``gamma`` and ``beta``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_revin import RevINTransformer
        >>> revin = RevINTransformer(gamma=[2.0], beta=[1.0]).fit(np.zeros((1, 4)))
        >>> module = revin.to_module()
        >>> {name: tuple(p.shape) for name, p in module.state_dict().items()}
        {'gamma': (1, 1), 'beta': (1, 1)}
        """
        check_is_fitted(self)
        module = RevIN(
            self.n_variates_,
            affine=True,
            eps=self.eps_,
            device=device,
            dtype=dtype,
            eps_mode=self.eps_mode_,
            center=self.center_,
        )
        with torch.no_grad():
            module.gamma.copy_(torch.from_numpy(self.gamma_).unsqueeze(-1))
            module.beta.copy_(torch.from_numpy(self.beta_).unsqueeze(-1))
        return module

    def __getstate__(self):
        # A module or state dict passed as `checkpoint` is pickled as the state
        # dict of the RevIN layer it names (two NumPy arrays): the pickle holds
        # neither the rest of the model nor torch tensors, and a refit of the
        # unpickled transformer reads the same parameters.
        state = dict(super().__getstate__())
        checkpoint = state.get("checkpoint")
        if isinstance(checkpoint, (Mapping, torch.nn.Module, ObjectWithModel)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    layer = find_revin_layer(checkpoint, key=self.checkpoint_key)
            except ValueError:
                return state  # unusable as a checkpoint: kept as given
            state["checkpoint"] = layer.stored
            # The layer's state dict does not record eps and subtract_last:
            # "auto" is kept as the values the checkpoint records.
            for name, (value, _) in layer.recorded.items():
                if state.get(name) == "auto":
                    state[name] = value
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------------ private

    def _fit(self, X, y=None, *, transform):
        resolve_device(self.device)
        # fit only reads X: it is written into only by fit_transform(copy=False).
        X = self._validate_X(X, reset=True, copy=self.copy or not transform)
        self.n_variates_, self.n_steps_ = self._fit_layout(X)
        _misuse.warn_if_misused(self, X, y)
        gamma, beta = self._source_affine(X)
        self.gamma_ = self._affine_parameter("gamma", gamma, 1.0)
        self.beta_ = self._affine_parameter("beta", beta, 0.0)
        out, mean, scale = self._normalize(
            X, copy=self.copy, statistics_only=not transform
        )
        self.mean_, self.scale_ = to_numpy(mean), to_numpy(scale)
        return out

    def _fit_dask(self, X):
        """Fit on dask X: the layout on a stand-in row, the statistics lazily.

        The layout, the affine parameters and the feature count depend only on
        X's shape and dtype; ``mean_`` and ``scale_`` become lazy dask arrays
        with X's row chunks.
        """
        self._fit(_dask.stand_in(X), transform=False)
        self.mean_, self.scale_ = _dask.instance_statistics(self, X)
        return self

    def _validate_X(self, X, *, reset, copy):
        if is_tensor(X):
            X = _validate_tensor(X, name="X")
        if is_tensor(X) or is_checked_float_array(X, writeable=not copy):
            # The feature count and names alone: a tensor stays a tensor, and
            # an array that check_array would return as it is skips it.
            validate_data(self, X, reset=reset, skip_check_array=True)
        else:
            check_array_namespace(X, estimator=type(self).__name__)
            X = validate_data(
                self,
                X,
                reset=reset,
                dtype=FLOAT_DTYPES,
                ensure_all_finite=False,
                allow_nd=True,
                force_writeable=not copy,
            )
        if X.ndim != 2 and X.ndim != 3:
            raise ValueError(
                f"X must be 2-D (n_instances, n_variates * n_steps) or 3-D "
                f"(n_instances, n_variates, n_steps); got shape {tuple(X.shape)}."
            )
        check_window_axes(X)
        if not copy:
            check_no_self_overlap(X)
        return X

    def _fit_layout(self, X):
        """Resolve passthrough and the names' layout; return (n_variates, n_steps)."""
        names = getattr(self, "feature_names_in_", None)
        self.passthrough_ = resolve_passthrough(self.passthrough, X.shape[-1], names)
        if self.passthrough_.size and X.ndim != 2:
            raise ValueError(
                "passthrough selects columns of 2-D X; 3-D X of shape "
                f"{tuple(X.shape)} holds windows only."
            )
        self.variate_names_ = None
        n_variates = self.n_variates
        named = None
        if names is not None:
            window_names = np.delete(np.asarray(names), self.passthrough_)
            named = parse_input_names(window_names)
        if named is not None:
            if named.step_order != self.step_order:
                raise ValueError(
                    f"The column names put the steps {named.step_order} "
                    f"({', '.join(map(str, window_names[:3]))}, ...), but "
                    f"step_order={self.step_order!r}; pass "
                    f"step_order={named.step_order!r}."
                )
            if named.variates is not None:
                n_named = len(named.variates)
                if n_variates is not None and n_variates != n_named:
                    raise ValueError(
                        f"n_variates={n_variates}, but the column names hold "
                        f"{n_named} variate(s) of {named.n_steps} step(s) "
                        f"each: {named.variates}."
                    )
                n_variates = n_named
                self.variate_names_ = np.asarray(named.variates, dtype=object)
        n_windows = X.shape[-1] - self.passthrough_.size
        layout = self._layout((*X.shape[:-1], n_windows), n_variates)
        if X.ndim == 2 and X.shape[1] == 1:
            raise ValueError(_ONE_STEP.format(n_features=X.shape[-1]))
        return layout

    def _window_columns(self, ndim):
        """Return the indices of X's window columns (last axis), oldest step first.

        RevIN reads ``X[..., columns]``: the passthrough columns left out and,
        with ``step_order="newest_first"``, each variate's steps reversed.
        None when that is X itself.
        """
        newest_first = self.step_order == "newest_first"
        if not self.passthrough_.size and not newest_first:
            return None
        if ndim == 3:  # no passthrough in 3-D; the steps are the last axis
            columns = np.arange(self.n_steps_)
        else:
            columns = np.delete(np.arange(self.n_features_in_), self.passthrough_)
        if newest_first:
            columns = columns.reshape(-1, self.n_steps_)[:, ::-1].ravel()
        return np.ascontiguousarray(columns)

    @staticmethod
    def _layout(shape, n_variates):
        """Return (n_variates, n_steps) of windows of ``shape``, passthrough aside."""
        if len(shape) == 3:
            if n_variates is not None and shape[1] != n_variates:
                hint = ""
                if shape[2] == n_variates:
                    hint = (
                        f" Its last axis has {n_variates}: it looks time-major, "
                        "(n_instances, n_steps, n_variates); pass "
                        "X.transpose(0, 2, 1)."
                    )
                raise ValueError(
                    f"n_variates={n_variates}, but 3-D X of shape "
                    f"{tuple(shape)} has {shape[1]} variate(s) on its middle "
                    "axis (layout (n_instances, n_variates, n_steps))." + hint
                )
            return shape[1], shape[2]
        n_variates = 1 if n_variates is None else n_variates
        if shape[1] % n_variates:
            raise ValueError(
                f"X has {shape[1]} feature(s), which is not divisible by "
                f"n_variates={n_variates}: 2-D X must hold n_variates * n_steps "
                "columns, variate-major (not counting passthrough columns)."
            )
        return n_variates, shape[1] // n_variates

    def _check_layout(self, X):
        n_windows = X.shape[-1] - (self.passthrough_.size if X.ndim == 2 else 0)
        layout = self._layout(
            (*X.shape[:-1], n_windows), self.n_variates_ if X.ndim == 2 else None
        )
        if layout != (self.n_variates_, self.n_steps_):
            raise ValueError(
                f"X of shape {tuple(X.shape)} holds {layout[0]} variate(s) x "
                f"{layout[1]} step(s), but {type(self).__name__} was fitted on "
                f"{self.n_variates_} variate(s) x {self.n_steps_} step(s)."
            )

    def _source_affine(self, X):
        """Return gamma and beta, from the checkpoint if any; resolve the settings.

        Sets ``checkpoint_key_``, ``eps_``, ``eps_mode_``, ``center_``,
        ``inverse_`` and ``settings_origin_``.
        """
        if self.checkpoint is None:
            self.checkpoint_key_ = None
            self._resolve_settings(recorded={}, eps_mode="clamp", inverse="exact")
            return self.gamma, self.beta
        if self.gamma is not None or self.beta is not None:
            raise ValueError(
                "gamma and beta cannot be combined with checkpoint, which "
                "provides the learned gamma and beta; pass either checkpoint or "
                "gamma/beta."
            )
        hint = ""
        if X.ndim == 2 and self.n_variates is None:
            hint = " For 2-D X pass n_variates={found} (the columns are variate-major)."
        layer = find_revin_layer(
            self.checkpoint,
            key=self.checkpoint_key,
            n_variates=self.n_variates_,
            hint=hint,
        )
        self.checkpoint_key_ = layer.key
        self._resolve_settings(
            recorded=layer.recorded,
            eps_mode=layer.eps_mode,
            inverse=layer.source_inverse,
        )
        return layer.gamma, layer.beta

    def _resolve_settings(self, *, recorded, eps_mode, inverse):
        """Resolve "auto" from what the checkpoint records, else the defaults."""
        self.settings_origin_ = {}
        for name, default in (("eps", 1e-5), ("center", "mean")):
            given = getattr(self, name)
            value, where = recorded.get(name, (None, None))
            if given == "auto":
                resolved = default if value is None else value
                origin = "default" if value is None else f"checkpoint ({where})"
            else:
                resolved, origin = given, "parameter"
                _warn_if_contradicted(name, given, value, where, stacklevel=7)
            setattr(self, f"{name}_", resolved)
            self.settings_origin_[name] = origin
        self.eps_mode_ = eps_mode if self.eps_mode == "auto" else self.eps_mode
        self.inverse_ = inverse if self.inverse == "source" else "exact"

    def _window_statistics(self, source):
        return window_statistics(
            source,
            eps=self.eps_,
            eps_mode=self.eps_mode_,
            center=self.center_,
            stats_dtype=_statistics_dtype(source),
            with_variance=False,
        )

    def _affine_parameter(self, name, value, default):
        n_variates = self.n_variates_
        if value is None:
            return np.full(n_variates, default)
        if is_tensor(value):
            value = value.detach().cpu()
        values = np.asarray(value, dtype=np.float64)
        if values.ndim == 2 and values.shape[1] == 1:  # (n_variates, 1) as in nn.RevIN
            values = values[:, 0]
        if values.shape != (n_variates,):
            raise ValueError(
                f"{name} must hold one value per variate, shape ({n_variates},); "
                f"got shape {values.shape}."
            )
        if not np.isfinite(values).all():
            raise ValueError(f"{name} must be finite; got {values.tolist()}.")
        if name != "gamma":
            return values
        clamped = effective_gamma(torch.from_numpy(values), self.eps_).numpy()
        changed = np.flatnonzero(clamped != values)
        if changed.size:
            warnings.warn(
                f"gamma has {changed.size} value(s) with magnitude below "
                f"eps={self.eps_} (variate(s) {changed.tolist()}); they are used "
                "as +/-eps, keeping their sign (0 becomes +eps), so that the "
                "inverse stays finite and exact.",
                UserWarning,
                stacklevel=3,
            )
        return clamped

    def _normalize(
        self, X, *, copy, statistics_only=False, keep_statistics=True, gathered=False
    ):
        """Normalize X; return the output and the statistics as tensors.

        Kept statistics are float64 (where the device has it): a float32 mean
        of windows far from zero would be off by up to half its last unit,
        many times the error of the normalized values, when other values
        (the targets) are normalized or mapped back with it.

        Passthrough columns and newest-first steps are handled by reading the
        window columns in RevIN's order (one copy) and writing the result back
        in place; ``gathered=True`` says that X is already that copy.
        """
        columns = None if gathered else self._window_columns(X.ndim)
        if columns is not None:
            index = columns
            if is_tensor(X):
                index = torch.as_tensor(columns, device=X.device)
            out, mean, scale = self._normalize(
                X[..., index],
                copy=False,
                statistics_only=statistics_only,
                keep_statistics=keep_statistics,
                gathered=True,
            )
            if statistics_only:
                return None, mean, scale
            target = (X.clone() if is_tensor(X) else X.copy()) if copy else X
            target[..., index] = out
            return target, mean, scale
        means, scales = [], []  # one entry per chunk of rows (see _apply)

        def compute(source, out):
            if statistics_only:
                stats = self._window_statistics(source)
                means.append(stats.loc)
                scales.append(stats.scale)
                return None
            # Statistics and normalization share one pass over memory.
            result, stats = normalize_windows(
                source,
                as_tensor_like(self.gamma_, source),
                as_tensor_like(self.beta_, source),
                eps=self.eps_,
                eps_mode=self.eps_mode_,
                center=self.center_,
                out=out,
                stats_dtype=_statistics_dtype(source) if keep_statistics else None,
                with_variance=False,
            )
            means.append(stats.loc)
            scales.append(stats.scale)
            return result

        out = self._apply(
            X,
            self.n_variates_,
            compute,
            copy=copy,
            writes=not statistics_only,
            row_chunks=True,
        )
        if not keep_statistics:
            return out, None, None
        # One part on the CPU: the arrays the kernel wrote, kept as they are.
        mean, scale = (
            parts[0] if len(parts) == 1 else torch.cat(parts)
            for parts in (means, scales)
        )
        return out, mean, scale

    @staticmethod
    def _as_windows(X, n_variates):
        if X.ndim == 3:
            return X
        return X.reshape(X.shape[0], n_variates, X.shape[1] // n_variates)

    def _apply(self, X, n_variates, compute, *, copy, writes=True, row_chunks=False):
        """Run ``compute(windows, out)`` on the device and return X's kind of output.

        ``X`` is a validated float array or tensor; the output has its shape,
        type and device. With ``copy=False`` the result is written into X.
        ``row_chunks=True`` says that ``compute`` treats each instance on its
        own: NumPy input may then be streamed through a GPU in chunks of rows,
        with one call of ``compute`` per chunk (see ``_backend.run_on_device``).
        """
        device = resolve_device(self.device, like=X if is_tensor(X) else None)
        windows = self._as_windows(X, n_variates)
        return run_on_device(
            X,
            windows,
            compute,
            device=device,
            copy=copy,
            writes=writes,
            row_chunks=row_chunks,
        )

    def _check_variates(self, variates):
        if variates is None:
            return np.arange(self.n_variates_)
        selected = np.asarray(variates)
        if (
            selected.ndim != 1
            or selected.size == 0
            or not np.issubdtype(selected.dtype, np.integer)
        ):
            raise ValueError(
                "variates must be a non-empty sequence of integer variate "
                f"indices; got {variates!r}."
            )
        out_of_range = selected[(selected < 0) | (selected >= self.n_variates_)]
        if out_of_range.size:
            raise ValueError(
                f"variates must be indices in [0, {self.n_variates_}); got "
                f"{out_of_range.tolist()} out of range."
            )
        if np.unique(selected).size != selected.size:
            raise ValueError(f"variates must not repeat; got {selected.tolist()}.")
        return selected

    def _check_statistics(self, statistics):
        if statistics is None:
            if not hasattr(self, "mean_"):
                raise ValueError(
                    "This transformer holds no statistics of its training "
                    "windows (RevINRegressor.revin_ does not keep them); pass "
                    "statistics=revin.instance_statistics(X_in) of the windows "
                    "that X belongs to."
                )
            return self.mean_, self.scale_
        if not isinstance(statistics, tuple) or len(statistics) != 2:
            raise ValueError(
                "statistics must be an InstanceStatistics (or a tuple (mean, "
                "scale)), as returned by instance_statistics(X); got "
                f"{type(statistics).__name__}."
            )
        checked = []
        for name, values in zip(("mean", "scale"), statistics, strict=True):
            if not (is_tensor(values) or _dask.is_dask_collection(values)):
                values = np.asarray(values)
            if values.ndim != 2 or values.shape[1] != self.n_variates_:
                raise ValueError(
                    f"statistics.{name} must have shape (n_instances, "
                    f"{self.n_variates_}); got shape {tuple(values.shape)}."
                )
            if not _dask.is_dask_collection(values):
                check_statistics_values(name, values)
            checked.append(values)
        # A dask array may not know its row count (NaN) until computed.
        rows_known = not any(math.isnan(values.shape[0]) for values in checked)
        if rows_known and checked[0].shape != checked[1].shape:
            raise ValueError(
                "statistics.mean and statistics.scale must have the same shape; "
                f"got {tuple(checked[0].shape)} and {tuple(checked[1].shape)}."
            )
        return tuple(checked)


def _statistics_dtype(source: torch.Tensor) -> torch.dtype | None:
    """float64 for the statistics that are kept, where the device has it."""
    return None if source.device.type == "mps" else torch.float64


def _warn_if_contradicted(name, given, recorded, where, *, stacklevel):
    """Warn that a parameter the user set contradicts what the checkpoint records."""
    if recorded is None or given == "auto" or given == recorded:
        return
    warnings.warn(
        f"{name}={given!r} was given, but the checkpoint records "
        f"{name}={recorded!r} ({where}); using {name}={given!r}. Leave "
        f"{name}='auto' to use the recorded value.",
        UserWarning,
        stacklevel=stacklevel,
    )


def _validate_tensor(X: torch.Tensor, *, name: str) -> torch.Tensor:
    """Check a tensor the way ``check_array`` checks an array, on its device."""
    check_dense_tensor(X, name=name)
    check_holds_data(X.device, f"{name} is on a device that")
    if X.ndim < 2:
        raise ValueError(
            f"Expected a 2-D or 3-D {name}, got a {X.ndim}-D tensor of shape "
            f"{tuple(X.shape)}."
        )
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a "
            "minimum of 1 is required."
        )
    if X.dtype not in (torch.float32, torch.float64):
        # Integers and bools become float64, as for NumPy input; half precision
        # is computed in float32, which keeps the statistics accurate.
        X = X.to(torch.float32 if X.is_floating_point() else torch.float64)
    return X


def _validate_array(X, *, name: str, copy: bool):
    """Validate X for inverse_transform, which has no fixed width."""
    if is_tensor(X):
        return _validate_tensor(X, name=name)
    check_array_namespace(X, estimator="RevINTransformer")
    return check_array(
        X,
        dtype=FLOAT_DTYPES,
        ensure_all_finite=False,
        allow_nd=True,
        force_writeable=not copy,
        input_name=name,
    )
