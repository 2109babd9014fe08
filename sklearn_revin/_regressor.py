"""RevINRegressor: a scikit-learn regressor that forecasts in RevIN-normalized space."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.linear_model import Ridge
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _dask
from ._backend import array_api_tensors, from_host, to_host
from ._transformer import _FLOAT_DTYPES, InstanceStatistics, RevINTransformer

__all__ = ["RevINRegressor"]


class RevINRegressor(RegressorMixin, BaseEstimator):
    r"""Regressor fitted on RevIN-normalized windows, predicting on the original scale.

    Each row of ``X`` is an input window of a series (``n_variates * n_steps``
    columns, variate-major, as :func:`make_windows` builds it) and the row of
    ``y`` is what follows it: ``horizon`` steps of one or several target
    variates. RevIN normalizes every window by its own mean and scale, and the
    targets by the statistics of the same window and variate,

    .. math::

        \tilde x = \frac{x - \mu}{\sigma} \gamma + \beta, \qquad
        \tilde y = \frac{y - \mu}{\sigma} \gamma + \beta,

    so that ``regressor`` learns the shape of a series, not its level. At
    :meth:`predict` the forecast is mapped back with the statistics of the new
    windows. This is the manner of
    :class:`~sklearn.compose.TransformedTargetRegressor`, with a
    transformation that depends on each input row. The arithmetic is
    :class:`RevINTransformer`'s own.

    Parameters
    ----------
    regressor : object, default=None
        Regressor with ``fit`` and ``predict``, cloned at :term:`fit`. It must
        support several outputs when ``y`` has several columns (a horizon of
        more than one step, or several targets): wrap a single-output one in
        :class:`~sklearn.multioutput.MultiOutputRegressor`. None means
        :class:`~sklearn.linear_model.Ridge` with its defaults.
    n_variates : int, default=None
        Number of variates in each window of ``X``. None takes that of
        ``revin``, whose own default is one variate.
    target_variates : int or array-like of int, default=None
        The variates of ``X``'s windows that ``y`` holds, in the order of its
        blocks of ``horizon`` columns, e.g. ``0`` to forecast the first
        variate from all of them. None means all variates.
    revin : RevINTransformer, default=None
        The normalization, cloned at :term:`fit`: set ``gamma``, ``beta``,
        ``eps`` or ``device`` there. None means ``RevINTransformer()``. Its
        ``copy`` is set to True in the clone: the regressor never writes into
        the ``X`` and ``y`` it is given.

    Attributes
    ----------
    regressor_ : object
        The fitted clone of ``regressor``, which works in normalized space.
    revin_ : RevINTransformer
        The fitted clone of ``revin``; its ``mean_`` and ``scale_`` are the
        statistics of the training windows.
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, for X with string column
        names only.

    See Also
    --------
    RevINTransformer : The normalization alone, for any model.
    make_windows : Builds ``X`` and ``y`` from a series.
    sklearn.compose.TransformedTargetRegressor : Transforms the target with
        a transformation fitted once for all rows.

    Notes
    -----
    RevIN helps models that cannot extrapolate, such as trees and nearest
    neighbours, on series whose level drifts: a trend moves the test period
    outside the training range, while normalized windows stay within it. On a
    stationary series the level of a window carries information (a high value
    tends to fall back), which per-window normalization removes, so RevIN can
    make the forecast worse there: compare on held-out data.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn_revin import RevINRegressor, make_windows
    >>> t = np.arange(300.0)
    >>> series = 0.5 * t + np.sin(2 * np.pi * t / 12)  # a trend and a cycle
    >>> X, Y = make_windows(series, window=24, horizon=3)
    >>> X_train, X_test, Y_train, Y_test = X[:200], X[200:], Y[:200], Y[200:]
    >>> forest = RandomForestRegressor(n_estimators=20, random_state=0)
    >>> model = RevINRegressor(forest).fit(X_train, Y_train)
    >>> revin_error = np.mean((model.predict(X_test) - Y_test) ** 2)
    >>> forest.fit(X_train, Y_train)
    RandomForestRegressor(n_estimators=20, random_state=0)
    >>> raw_error = np.mean((forest.predict(X_test) - Y_test) ** 2)
    >>> bool(revin_error < 0.01 * raw_error)
    True
    """

    _parameter_constraints: dict = {
        "regressor": [HasMethods(["fit", "predict"]), None],
        "n_variates": [Interval(Integral, 1, None, closed="left"), None],
        "target_variates": [
            Interval(Integral, 0, None, closed="left"),
            "array-like",
            None,
        ],
        "revin": [RevINTransformer, None],
    }

    def __init__(
        self,
        regressor=None,
        *,
        n_variates: int | None = None,
        target_variates=None,
        revin: RevINTransformer | None = None,
    ):
        self.regressor = regressor
        self.n_variates = n_variates
        self.target_variates = target_variates
        self.revin = revin

    @_fit_context(
        # The regressor and the transformer are validated when they are fitted.
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y, **fit_params):
        """Fit the regressor on the normalized windows and normalized targets.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_variates * n_steps)
            Input windows, variate-major.
        y : array-like of shape (n_windows,) or (n_windows, n_targets * horizon)
            What follows each window, for each target variate, variate-major.
            1-D ``y`` is one step of one target.
        **fit_params : dict
            Passed to the ``fit`` method of the regressor, e.g.
            ``sample_weight``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if array_api_tensors(X, y, *fit_params.values(), estimator="RevINRegressor"):
            # array_api_dispatch=True with tensors: fitted on the host arrays.
            with config_context(array_api_dispatch=False):
                host_params = {name: to_host(v) for name, v in fit_params.items()}
                return self.fit(to_host(X), to_host(y), **host_params)
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, "
                "but the target y is None."
            )
        X, y = validate_data(
            self,
            X,
            y,
            dtype=_FLOAT_DTYPES,
            multi_output=True,
            y_numeric=True,
            ensure_all_finite=self._ensure_all_finite(),
        )
        self._training_dim = y.ndim
        Y = y.reshape(-1, 1) if y.ndim == 1 else y

        self.revin_ = self._make_revin()
        X_normalized = self.revin_.fit_transform(X)
        targets = self._target_indices()
        if Y.shape[1] % len(targets):
            raise ValueError(
                f"y has {Y.shape[1]} column(s), which is not a multiple of the "
                f"{len(targets)} target variate(s) (target_variates="
                f"{self.target_variates!r}): y must hold n_targets * horizon "
                "columns, variate-major."
            )
        # The targets of each window are normalized with that window's statistics.
        window_statistics = InstanceStatistics(self.revin_.mean_, self.revin_.scale_)
        Y_normalized = self.revin_.normalize_with(
            Y, window_statistics, variates=targets
        )
        if self._training_dim == 1:
            Y_normalized = Y_normalized.ravel()
        self.regressor_ = clone(self._regressor())
        self.regressor_.fit(X_normalized, Y_normalized, **fit_params)
        return self

    def predict(self, X):
        """Forecast from each window and map the forecast back to its scale.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_variates * n_steps)
            Input windows, with the layout seen in :term:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_windows,) or (n_windows, n_targets * horizon)
            Forecasts on the scale of the series, shaped as ``y`` in fit. A
            dask array X chunked by rows gives a lazy dask array, predicted
            chunk by chunk.
        """
        if _dask.is_dask_collection(X):
            return _dask.predict(self, X)
        if array_api_tensors(X, estimator="RevINRegressor"):
            # array_api_dispatch=True with a tensor: a tensor on X's device.
            with config_context(array_api_dispatch=False):
                y_pred = self.predict(to_host(X))
            return from_host(y_pred, like=X)
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            reset=False,
            dtype=_FLOAT_DTYPES,
            ensure_all_finite=self._ensure_all_finite(),
        )
        window_statistics = self.revin_.instance_statistics(X)
        y_normalized = self.regressor_.predict(self.revin_.transform(X))
        y_normalized = np.asarray(y_normalized).reshape(X.shape[0], -1)
        y_pred = self.revin_.inverse_transform(
            y_normalized, statistics=window_statistics, variates=self._target_indices()
        )
        if self._training_dim == 1 and y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        regressor_tags = get_tags(self._regressor())
        # Per-row normalization is meant for windows of a series; on tabular data
        # whose columns are different features, the row statistics mix units.
        tags.regressor_tags.poor_score = True
        tags.input_tags.allow_nan = regressor_tags.input_tags.allow_nan
        tags.target_tags.multi_output = regressor_tags.target_tags.multi_output
        return tags

    # ------------------------------------------------------------------ private

    def _regressor(self):
        return Ridge() if self.regressor is None else self.regressor

    def _ensure_all_finite(self):
        return "allow-nan" if get_tags(self._regressor()).input_tags.allow_nan else True

    def _make_revin(self) -> RevINTransformer:
        revin = RevINTransformer() if self.revin is None else clone(self.revin)
        revin.set_params(copy=True)
        if self.n_variates is not None:
            if revin.n_variates not in (None, self.n_variates):
                raise ValueError(
                    f"n_variates={self.n_variates}, but the revin transformer has "
                    f"n_variates={revin.n_variates}; set one of them only."
                )
            revin.set_params(n_variates=self.n_variates)
        return revin

    def _target_indices(self) -> list[int]:
        n_variates = self.revin_.n_variates_
        if self.target_variates is None:
            return list(range(n_variates))
        targets = np.atleast_1d(np.asarray(self.target_variates))
        if targets.ndim != 1 or not targets.size or targets.dtype.kind not in "iu":
            raise ValueError(
                "target_variates must be a variate index or a non-empty list of "
                f"them; got {self.target_variates!r}."
            )
        outside = targets[(targets < 0) | (targets >= n_variates)]
        if outside.size:
            raise ValueError(
                f"target_variates must be indices in [0, {n_variates}) for "
                f"windows of {n_variates} variate(s); got {outside.tolist()}."
            )
        if np.unique(targets).size != targets.size:
            raise ValueError(
                f"target_variates must not repeat; got {targets.tolist()}."
            )
        return targets.tolist()
