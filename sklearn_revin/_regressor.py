"""RevINRegressor: a scikit-learn regressor that forecasts in RevIN-normalized space."""

from __future__ import annotations

import inspect
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.linear_model import Ridge
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    has_fit_parameter,
    validate_data,
)

from . import _dask
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

    A RevIN model trained end to end measures its error after the inverse, on
    the series' own scale, where the squared error of window :math:`i` and
    target variate :math:`v` is :math:`(\sigma_{iv} / |\gamma_v|)^2` times
    its squared error in normalized space. ``window_weights="scale"`` fits the
    regressor with these weights, so that it minimises the same error; without
    them, near-constant windows (whose normalized targets are huge) can
    dominate the fit.

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
    channel_independent : bool, default=False
        If True, one regressor is shared by all variates, as in PatchTST and
        RLinear: each target variate's window is one instance, its
        ``n_steps`` values in and its own ``horizon`` values out, and the
        regressor is trained on the windows of all target variates. ``X`` and
        ``y`` keep the layout of :func:`make_windows` and :meth:`predict`
        returns the same columns as with False; the other variates of ``X``
        are not used. If False, every forecast sees the windows of all
        variates (channel mixing).
    window_weights : {"auto", "scale", "uniform"}, default="auto"
        How the windows weigh in the fit of the regressor.

        - ``"scale"``: window :math:`i` of target variate :math:`v` weighs
          :math:`(\sigma_{iv} / |\gamma_v|)^2` (``revin_.scale_`` and the
          effective ``revin_.gamma_``), divided by the mean weight, so that
          the regressor minimises the squared error on the series' own scale.
          The weights are passed as ``sample_weight``; with several target
          variates and ``channel_independent=False`` one clone of the
          regressor is fitted per target variate, each with its own weights
          (``regressors_``).
        - ``"uniform"``: every normalized window weighs alike: the squared
          error in normalized space.
        - ``"auto"``: ``"scale"`` when the regressor's ``fit`` takes
          ``sample_weight`` (and, for a meta-estimator such as
          :class:`~sklearn.multioutput.MultiOutputRegressor`, its
          ``estimator`` too), else ``"uniform"``. A
          :class:`~sklearn.pipeline.Pipeline` has no ``sample_weight`` in its
          ``fit``, so it gets ``"uniform"``: make ``RevINRegressor`` the last
          step of the pipeline instead to have the weights.

        ``window_weights_`` is the choice made.

    Attributes
    ----------
    regressor_ : object
        The fitted clone of ``regressor``, which works in normalized space;
        only when one regressor is fitted (see ``regressors_``).
    regressors_ : list of object
        The fitted clones of ``regressor``: one per target variate, in the
        order of ``target_variates``, with ``window_weights_="scale"``,
        several target variates and ``channel_independent=False``; otherwise
        the one ``regressor_``.
    window_weights_ : {"scale", "uniform"}
        The window weights used, ``window_weights`` with ``"auto"``
        resolved.
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
        "channel_independent": ["boolean"],
        "window_weights": [StrOptions({"auto", "scale", "uniform"})],
    }

    def __init__(
        self,
        regressor=None,
        *,
        n_variates: int | None = None,
        target_variates=None,
        revin: RevINTransformer | None = None,
        channel_independent: bool = False,
        window_weights: str = "auto",
    ):
        self.regressor = regressor
        self.n_variates = n_variates
        self.target_variates = target_variates
        self.revin = revin
        self.channel_independent = channel_independent
        self.window_weights = window_weights

    @_fit_context(
        # The regressor and the transformer are validated when they are fitted.
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Fit the regressor on the normalized windows and normalized targets.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_variates * n_steps)
            Input windows, variate-major.
        y : array-like of shape (n_windows,) or (n_windows, n_targets * horizon)
            What follows each window, for each target variate, variate-major.
            1-D ``y`` is one step of one target.
        sample_weight : array-like of shape (n_windows,), default=None
            Weight of each window. With ``window_weights="scale"`` it
            multiplies the weights of the windows' scales; with
            ``channel_independent=True`` it applies to every target variate
            of the window. None weighs all windows alike.
        **fit_params : dict
            Passed unchanged to the ``fit`` method of each regressor.

        Returns
        -------
        self : object
            Fitted estimator.
        """
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
        if sample_weight is not None:
            if not _fit_can_take(self._regressor(), "sample_weight"):
                name = type(self._regressor()).__name__
                raise ValueError(
                    f"sample_weight was passed to fit, but {name}.fit does not "
                    "take sample_weight; fit without sample_weight, or use a "
                    "regressor whose fit takes it."
                )
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        self._training_dim = y.ndim
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self.window_weights_ = self._resolve_window_weights()

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
        self.regressors_ = [
            clone(self._regressor()).fit(X_part, Y_part, **weight, **fit_params)
            for X_part, Y_part, weight in self._fit_sets(
                X_normalized, Y_normalized, targets, sample_weight
            )
        ]
        if len(self.regressors_) == 1:
            self.regressor_ = self.regressors_[0]
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
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            reset=False,
            dtype=_FLOAT_DTYPES,
            ensure_all_finite=self._ensure_all_finite(),
        )
        targets = self._target_indices()
        window_statistics = self.revin_.instance_statistics(X)
        X_normalized = self.revin_.transform(X)
        if self.channel_independent:
            inputs = self._one_row_per_variate(X_normalized, targets)
            y_normalized = np.asarray(self.regressors_[0].predict(inputs))
        else:
            y_normalized = np.hstack(
                [
                    np.asarray(regressor.predict(X_normalized)).reshape(X.shape[0], -1)
                    for regressor in self.regressors_
                ]
            )
        y_normalized = y_normalized.reshape(X.shape[0], -1)
        y_pred = self.revin_.inverse_transform(
            y_normalized, statistics=window_statistics, variates=targets
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

    def _resolve_window_weights(self) -> str:
        regressor = self._regressor()
        refusal = _sample_weight_refusal(regressor)
        if self.window_weights == "auto":
            return "uniform" if refusal else "scale"
        if self.window_weights == "scale" and refusal:
            raise ValueError(
                "window_weights='scale' fits the regressor with a sample_weight "
                f"per window (its (scale / |gamma|) ** 2), but {refusal}. Use "
                "window_weights='uniform' (every normalized window weighs "
                "alike), or a regressor whose fit takes sample_weight, e.g. "
                "Ridge(), RandomForestRegressor() or "
                "HistGradientBoostingRegressor(); a Pipeline takes RevINRegressor "
                "as its last step instead, e.g. make_pipeline(SimpleImputer(), "
                "RevINRegressor(Ridge()))."
            )
        return self.window_weights

    def _fit_sets(self, X_normalized, Y_normalized, targets, sample_weight):
        """Yield ``(X, Y, {"sample_weight": w} or {})`` for each regressor to fit.

        One regressor, except with ``window_weights_="scale"`` and several
        target variates of a shared input, where each target variate's windows
        weigh by their own scale: one regressor per target variate.
        """
        n_windows, n_targets = X_normalized.shape[0], len(targets)
        horizon = Y_normalized.shape[1] // n_targets
        scale = self.window_weights_ == "scale"
        if scale:
            # The squared error on the series' own scale is (scale / |gamma|) ** 2
            # times that in normalized space; gamma_ is the effective gamma.
            factor = np.square(
                self.revin_.scale_[:, targets] / np.abs(self.revin_.gamma_[targets]),
                dtype=np.float64,
            )
        else:
            factor = np.ones((n_windows, n_targets))

        def fit_set(X_part, Y_part, factor_part, weight_part, *, ravel):
            if ravel and Y_part.shape[1] == 1:
                Y_part = Y_part.ravel()
            if not scale and weight_part is None:
                return X_part, Y_part, {}
            weight = _mean_one(factor_part, weight_part)
            return X_part, Y_part, {"sample_weight": weight}

        if self.channel_independent:
            weight = sample_weight
            if weight is not None:  # each window's weight for each of its variates
                weight = np.repeat(weight, n_targets)
            yield fit_set(
                self._one_row_per_variate(X_normalized, targets),
                Y_normalized.reshape(n_windows * n_targets, horizon),
                factor.ravel(),
                weight,
                ravel=True,
            )
        elif scale and n_targets > 1:
            for k in range(n_targets):
                yield fit_set(
                    X_normalized,
                    Y_normalized[:, k * horizon : (k + 1) * horizon],
                    factor[:, k],
                    sample_weight,
                    ravel=True,
                )
        else:
            # One target variate, or uniform weights: one weight per window.
            yield fit_set(
                X_normalized,
                Y_normalized,
                factor[:, 0],
                sample_weight,
                ravel=self._training_dim == 1,
            )

    def _one_row_per_variate(self, X_normalized, targets):
        """Rows (window, target variate) of ``n_steps`` values, window-major."""
        n_variates, n_steps = self.revin_.n_variates_, self.revin_.n_steps_
        windows = X_normalized.reshape(X_normalized.shape[0], n_variates, n_steps)
        return windows[:, targets, :].reshape(-1, n_steps)

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


def _mean_one(factor, sample_weight):
    """Return ``sample_weight * factor / c``, c the weighted mean of ``factor``.

    The window weights only matter relative to each other; dividing them by
    their mean keeps the size of the regressor's penalty (``Ridge``'s
    ``alpha``) independent of the unit of the series, and dividing by the
    mean weighted by ``sample_weight`` keeps integer weights equivalent to
    repeated windows.
    """
    if sample_weight is None:
        return factor / np.mean(factor)
    total = np.sum(sample_weight)
    weighted = sample_weight * factor
    mean = np.sum(weighted) / total if total > 0 else 1.0  # all zero: let fit say
    return weighted / mean


def _fit_can_take(regressor, name: str) -> bool:
    """Return True if ``regressor.fit`` has a parameter ``name`` or ``**kwargs``.

    A fit with ``**kwargs`` (Pipeline, TransformedTargetRegressor) decides
    itself, with its own message, what it does with ``sample_weight``.
    """
    parameters = inspect.signature(regressor.fit).parameters.values()
    return any(
        p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
    )


def _sample_weight_refusal(regressor) -> str | None:
    """Say why ``regressor`` cannot be fitted with ``sample_weight``; None if it can.

    The weights must be a named ``sample_weight`` parameter of its ``fit``;
    a meta-estimator that takes one and passes it to an ``estimator`` (as
    MultiOutputRegressor, BaggingRegressor and AdaBoostRegressor do) needs
    that estimator to take it too. A Pipeline's ``fit`` takes no
    ``sample_weight`` (its steps' parameters have other names), so it is
    refused.
    """
    name = type(regressor).__name__
    if not has_fit_parameter(regressor, "sample_weight"):
        return f"{name}.fit does not take sample_weight"
    inner = getattr(regressor, "estimator", None)
    if inner is not None and hasattr(inner, "fit") and not isinstance(inner, type):
        reason = _sample_weight_refusal(inner)
        if reason:
            return f"{name} passes sample_weight to its estimator, and {reason}"
    return None
