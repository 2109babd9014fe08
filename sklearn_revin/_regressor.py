"""RevINRegressor: a scikit-learn regressor that forecasts in RevIN-normalized space."""

from __future__ import annotations

import inspect
import warnings
from functools import partial
from numbers import Integral

import numpy as np
from sklearn import config_context, get_config
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.linear_model import Ridge
from sklearn.utils import Bunch, get_tags, metadata_routing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    has_fit_parameter,
    validate_data,
)

from . import _blas, _dask, _dask_fit, _incremental, _misuse, _sufficient_statistics
from ._backend import array_api_tensors, from_host, to_host
from ._layout import parse_target_names
from ._nonnumeric import restore_non_numeric, split_non_numeric
from ._panel import series_of_rows
from ._transformer import InstanceStatistics, RevINTransformer
from ._validation import FLOAT_DTYPES, check_dense_tensor
from ._weights import WINDOW_WEIGHTS, statistics_features, window_factors
from ._windows import frame_library

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
        ``revin``, whose own default is one variate, or reads it from column
        names in the layout of :func:`make_windows` (``name[t-k]``). NumPy
        windows of several variates need it: fit warns where they show it.
    target_variates : int, str or array-like of int or str, default=None
        The variates of ``X``'s windows that ``y`` holds, in the order of its
        blocks of ``horizon`` columns, e.g. ``0`` to forecast the first
        variate from all of them, or a variate name (``"realgdp"``) for X
        with :func:`make_windows` column names. None reads them from ``y``'s
        column names (``name[t+h]``) where it has them, and means all
        variates otherwise. Names in ``y`` that contradict ``target_variates``
        or the variates of ``X`` are an error.
    step_order : {"oldest_first", "newest_first"}, default=None
        Order of the steps within each window, see
        :class:`RevINTransformer`: ``"newest_first"`` for the lag matrices of
        skforecast and mlforecast (``lag_1`` first). None takes that of
        ``revin`` (``"oldest_first"`` by default).
    passthrough : int, str, array-like of int, str or bool, default=None
        Columns of ``X`` that are not steps of a window (exogenous variables,
        calendar and window features), see :class:`RevINTransformer`. The
        regressor gets them unnormalized, in their place next to the
        normalized windows. None takes that of ``revin`` (none by default).
        Columns of a pandas or polars ``X`` that are not numbers (a series
        id, categories, calendar labels) must be passthrough columns: the
        regressor then gets a data frame of ``X``'s library with those
        columns as they are, e.g. for
        ``HistGradientBoostingRegressor(categorical_features="from_dtype")``
        (not with ``channel_independent=True``); see :ref:`panels`.
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
    window_weights : {"auto", "scale", "scale_free", "uniform"}, default="auto"
        How the windows weigh in the fit of the regressor.

        - ``"scale"``: window :math:`i` of target variate :math:`v` weighs
          :math:`(\sigma_{iv} / |\gamma_v|)^2` (the window's scale and the
          effective ``revin_.gamma_``), divided by the mean weight, so that
          the regressor minimises the squared error on the series' own scale.
          The weights are passed as ``sample_weight``; with several target
          variates and ``channel_independent=False`` one clone of the
          regressor is fitted per target variate, each with its own weights
          (``regressors_``).
        - ``"scale_free"``: window :math:`i` of target variate :math:`v`
          weighs :math:`\sigma_{iv} / (|\gamma_v| D_{s(i)v})`, divided by
          the mean weight, with :math:`D_{sv}` the mean absolute seasonal
          step :math:`|x_t - x_{t-m}|` (:math:`m` the ``seasonality``) of
          series :math:`s = s(i)`, the window's series in ``groups`` (a
          :meth:`fit` parameter), averaged over its windows: the error in
          MASE's units, the series' own seasonal step, in which no series
          dominates by its level, for many series in one model (see
          :doc:`/many_series`). Unsquared, it makes a window's absolute
          error in normalized space its contribution to MASE; it measured
          better than the square on M4 Hourly. Without ``groups`` (one
          series) :math:`D` is one constant and the weights are
          :math:`\sigma_{iv}` over their mean (not ``"scale"``'s square).
          Passed as for ``"scale"``.
        - ``"uniform"``: every normalized window weighs alike: the squared
          error in normalized space.
        - ``"auto"``: ``"scale"``, or ``"scale_free"`` when :meth:`fit` is
          given ``groups``, when the regressor's ``fit`` takes
          ``sample_weight`` (and, for a meta-estimator such as
          :class:`~sklearn.multioutput.MultiOutputRegressor`, its
          ``estimator`` too), else ``"uniform"``. A
          :class:`~sklearn.pipeline.Pipeline` has no ``sample_weight`` in its
          ``fit``, so it gets ``"uniform"``: make ``RevINRegressor`` the last
          step of the pipeline instead to have the weights.

        ``window_weights_`` is the choice made.
    verbose : int, default=0
        Report the progress of long fits: with a :class:`~sklearn.linear_model.Ridge`
        or ``LinearRegression`` fitted from
        sufficient statistics, a line on stderr every few seconds (windows
        done and time), and dask's progress bar (distributed's ``progress``
        under a client) for dask input. 0 is silent.
    window_statistics : bool, default=False
        If True, the regressor also gets each window's RevIN statistics, its
        mean and scale on the series' own scale, as extra features after the
        normalized window (the mean then the scale of every variate; with
        ``channel_independent=True``, those of the row's variate): the level
        that normalization removes, for models (trees) that can use it.
    seasonality : int, default=1
        The lag :math:`m` of the steps :math:`|x_t - x_{t-m}|` that measure
        each series' unit with ``window_weights="scale_free"``, as
        :func:`sklearn_revin.metrics.mase` names it: 24 for hourly series
        with a daily cycle, to weigh the windows in the units of the MASE
        they are judged by. The windows need at least ``seasonality + 1``
        steps. Not used by the other weights.

    Attributes
    ----------
    regressor_ : object
        The fitted clone of ``regressor``, which works in normalized space;
        only when one regressor is fitted (see ``regressors_``).
    regressors_ : list of object
        The fitted clones of ``regressor``: one per target variate, in the
        order of ``target_variates``, with ``window_weights_="scale"``,
        several target variates and ``channel_independent=False``; otherwise
        the one ``regressor_``. A regressor that trains on dask arrays itself
        (``lightgbm.dask.DaskLGBMRegressor``, ``xgboost.dask.DaskXGBRegressor``,
        dask-ml's ``Incremental``), fitted on dask input, is kept as its local
        model: ``to_local()``, an ``xgboost.XGBRegressor`` or ``estimator_``
        (see :ref:`scaling`).
    window_weights_ : {"scale", "scale_free", "uniform"}
        The window weights used, ``window_weights`` with ``"auto"``
        resolved.
    window_weight_divisors_ : ndarray of shape (n_regressors,)
        Only with a regressor that has ``partial_fit``: what the window
        weights of each clone in ``regressors_`` are divided by, their
        (sample-weighted) mean over the windows of :meth:`fit` (all blocks of
        dask input) or of the first :meth:`partial_fit` batch; later
        :meth:`partial_fit` batches are divided by the same, so that a window
        weighs alike in every batch. 1.0 for ``"uniform"`` weights.
    revin_ : RevINTransformer
        The fitted clone of ``revin``: its layout (``n_variates_``,
        ``n_steps_``, ``passthrough_``, ``variate_names_``) and parameters
        (``gamma_``, ``beta_``). It does not keep the statistics of the
        training windows, which :meth:`predict` never uses (they grew a fitted
        model by two floats per training window and variate); compute them,
        where wanted, with ``revin_.instance_statistics(X_train)``.
    target_variates_ : list of int
        The variates ``y`` holds, resolved from ``target_variates`` or from
        the column names of ``y``.
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
            str,
            "array-like",
            None,
        ],
        "revin": [RevINTransformer, None],
        "channel_independent": ["boolean"],
        "window_weights": [StrOptions(set(WINDOW_WEIGHTS))],
        "window_statistics": ["boolean"],
        "seasonality": [Interval(Integral, 1, None, closed="left")],
        "step_order": [StrOptions({"oldest_first", "newest_first"}), None],
        "passthrough": [Integral, str, "array-like", None],
        "verbose": ["verbose"],
    }

    # With metadata routing, fit's sample_weight comes to the regressor that
    # requested it, as in TransformedTargetRegressor, not to this estimator:
    # no set_fit_request of its own (it would have no effect).
    __metadata_request__fit = {"sample_weight": metadata_routing.UNUSED}
    __metadata_request__partial_fit = {"sample_weight": metadata_routing.UNUSED}

    def __init__(
        self,
        regressor=None,
        *,
        n_variates: int | None = None,
        target_variates=None,
        revin: RevINTransformer | None = None,
        channel_independent: bool = False,
        window_weights: str = "auto",
        step_order: str | None = None,
        passthrough=None,
        verbose: int = 0,
        window_statistics: bool = False,
        seasonality: int = 1,
    ):
        self.regressor = regressor
        self.n_variates = n_variates
        self.target_variates = target_variates
        self.revin = revin
        self.channel_independent = channel_independent
        self.window_weights = window_weights
        self.step_order = step_order
        self.passthrough = passthrough
        self.verbose = verbose
        self.window_statistics = window_statistics
        self.seasonality = seasonality

    @_fit_context(
        # The regressor and the transformer are validated when they are fitted.
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y, sample_weight=None, groups=None, **fit_params):
        """Fit the regressor on the normalized windows and normalized targets.

        Dask arrays ``X`` and ``y`` (chunked by rows, e.g. from
        :func:`make_windows` of a dask series) are fitted without computing
        them whole where the regressor allows it (see :ref:`scaling`):
        ``Ridge`` and ``LinearRegression`` exactly, from sufficient statistics
        reduced by dask; a regressor with ``partial_fit`` (``SGDRegressor``,
        ``MLPRegressor``, a ``MultiOutputRegressor`` of one) with **one pass**
        of fresh clones' ``partial_fit`` over the row blocks, one block
        computed at a time, in order, with the window weights of an in-memory
        fit (divided by their mean over all windows, reduced by dask first):
        not the in-memory ``fit`` of that regressor, which iterates over all
        windows until it converges (``max_iter`` epochs, shuffled): call
        :meth:`partial_fit` on the dask arrays for more passes. Except with
        ``window_weights="scale_free"``, which needs all windows at once.
        LightGBM's ``DaskLGBMRegressor`` trains on the cluster on the lazily
        normalized windows. Any other regressor warns and computes ``X`` and
        ``y`` whole.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_variates * n_steps)
            Input windows, variate-major, or a dask array of them.
        y : array-like of shape (n_windows,) or (n_windows, n_targets * horizon)
            What follows each window, for each target variate, variate-major.
            1-D ``y`` is one step of one target.
        sample_weight : array-like of shape (n_windows,), default=None
            Weight of each window. With ``window_weights="scale"`` it
            multiplies the weights of the windows' scales; with
            ``channel_independent=True`` it applies to every target variate
            of the window. None weighs all windows alike.
        groups : array-like of shape (n_windows,), default=None
            The series each window belongs to (an id per window, any dtype),
            for windows of many series stacked in one ``X``: with
            ``window_weights="scale_free"`` (the choice of ``"auto"`` when
            ``groups`` is given) each series weighs in its own units (its
            mean absolute step at lag ``seasonality``). None
            takes the series from ``X``'s index where it is that of
            :func:`make_windows` with ``id_col`` (``(id_col, time_col)``, see
            :ref:`panels`), and otherwise means that all windows are of one
            series.
        **fit_params : dict
            Passed to the ``fit`` method of the regressor, e.g.
            ``sample_weight``. With metadata routing enabled
            (``sklearn.set_config(enable_metadata_routing=True)``), only what
            the regressor requested, as in
            :class:`~sklearn.compose.TransformedTargetRegressor`.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if sample_weight is not None:
            fit_params = {"sample_weight": sample_weight, **fit_params}
        check_dense_tensor(X), check_dense_tensor(y, name="y")
        if array_api_tensors(X, y, *fit_params.values(), estimator="RevINRegressor"):
            # array_api_dispatch=True with tensors: fitted on the host arrays.
            with config_context(array_api_dispatch=False):
                host_params = {name: to_host(v) for name, v in fit_params.items()}
                return self.fit(to_host(X), to_host(y), groups=groups, **host_params)
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, "
                "but the target y is None."
            )
        # sample_weight weighs the windows (see _fit_sets); the rest goes to the
        # regressor as it is.
        fit_params = dict(self._route_fit_params(fit_params).regressor.fit)
        sample_weight = fit_params.pop("sample_weight", None)
        if groups is None:  # windows of a panel say their series
            groups = series_of_rows(X)
        # Non-numeric passthrough columns (ids, categories): zeros for the checks
        # and RevIN, handed back to the regressor as they are.
        X, non_numeric = split_non_numeric(X, self._make_revin().passthrough)
        if non_numeric is not None and self.channel_independent:
            raise ValueError(
                "channel_independent=True fits one row per variate of plain "
                "numbers; non-numeric passthrough columns need "
                "channel_independent=False."
            )
        # Ridge and LinearRegression are fitted from sufficient statistics over
        # chunks of windows: no normalized copy of X, dask blocks never whole.
        # (Non-numeric columns go to the regressor as they are: no exact route.)
        # Window statistics as features, and weights by series, are fitted in
        # memory.
        window_weights = self._resolve_window_weights(groups)
        in_memory_only = (
            non_numeric is not None
            or self.window_statistics
            or window_weights == "scale_free"
        )
        exact = (
            None
            if in_memory_only
            else _sufficient_statistics.exact_solver(self._regressor(), fit_params)
        )
        # Dask X is fitted block by block or by the regressor's own dask fit
        # where it can be (see _dask_fit.dask_route), else computed whole.
        route = _dask_fit.dask_route(
            X,
            y,
            self._regressor(),
            exact=exact,
            streamable=non_numeric is None and window_weights != "scale_free",
        )
        own_dask_fit, incremental = route == "own_dask_fit", route == "blocks"
        out_of_core = exact or route is not None
        dask_input = out_of_core and _dask.is_dask_collection(X)
        X, y, X_frame, y_frame = self._validate_fit_data(X, y, dask_input=dask_input)
        if sample_weight is not None:
            if not _fit_can_take(self._regressor(), "sample_weight"):
                name = type(self._regressor()).__name__
                raise ValueError(
                    f"sample_weight was passed to fit, but {name}.fit does not "
                    "take sample_weight; fit without sample_weight, or use a "
                    "regressor whose fit takes it."
                )
            sample_weight = _as_sample_weight(sample_weight, X.shape[0])
        self._training_dim = y.ndim
        self._y_frame = y_frame
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self._y_width = Y.shape[1]
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (X.shape[0],):
                raise ValueError(
                    f"groups must hold one series id per window of X: shape "
                    f"({X.shape[0]},) expected, got {groups.shape}."
                )
        self.window_weights_ = window_weights
        vars(self).pop("window_weight_divisors_", None)  # set by some routes only
        if incremental:
            _incremental.check_partial_fit_weights(
                self._regressor(), window_weights, sample_weight
            )

        self.revin_ = self._make_revin()
        if out_of_core:
            # The layout and parameters depend on X's columns only: one window
            # (the statistics of every chunk are computed where it is used).
            self.revin_.fit(
                _dask.stand_in(X)
                if dask_input
                else _first_window(_with_names(X, X_frame))
            )
            if not dask_input:  # the transformer saw one window: all of them
                _misuse.warn_if_unstated_layout(self.revin_, X)
        else:
            X_normalized = self.revin_.fit_transform(_with_names(X, X_frame))
            X_normalized = restore_non_numeric(X_normalized, non_numeric)
        targets = self.target_variates_ = self._fit_targets(y_frame)
        self._check_y_width(Y, targets)
        if exact:
            self.regressors_ = self._fit_from_statistics(X, Y, targets, sample_weight)
        elif incremental:
            _dask_fit.fit_dask_blocks(
                self,
                X,
                Y,
                sample_weight,
                regressor=self._regressor(),
                fit_sets=self._fit_sets,
                fit_params=fit_params,
                fresh=True,
            )
        elif own_dask_fit:
            self.regressors_ = _dask_fit.fit_own_dask(
                self,
                X,
                Y,
                sample_weight,
                regressor=self._regressor(),
                fit_sets=self._fit_sets,
                fit_params=fit_params,
            )
        else:
            # The targets of each window are normalized with its statistics.
            window_statistics = InstanceStatistics(
                self.revin_.mean_, self.revin_.scale_
            )
            Y_normalized = self.revin_.normalize_with(
                Y, window_statistics, variates=targets
            )
            sets, divisors = self._fit_sets(
                X_normalized, Y_normalized, targets, sample_weight, groups
            )
            self.regressors_ = [
                clone(self._regressor()).fit(X_part, Y_part, **weight, **fit_params)
                for X_part, Y_part, weight in sets
            ]
            del sets
            if _incremental.has_partial_fit(self._regressor()):
                self.window_weight_divisors_ = divisors
        if len(self.regressors_) == 1:
            self.regressor_ = self.regressors_[0]
        _misuse.warn_if_quantiles_reversed(self.revin_.gamma_[targets], self.regressor)
        # predict uses the statistics of the windows it is given, never these:
        # a fitted model keeps the layout and parameters, not two floats per
        # training window and variate. (The incremental route drops each
        # batch's own.)
        for name in ("mean_", "scale_"):
            vars(self.revin_).pop(name, None)
        return self

    # ---------------------------------- incremental (_incremental, _dask_fit)

    @available_if(lambda self: _incremental.has_partial_fit(self._regressor()))
    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y, sample_weight=None, **fit_params):
        """Fit the regressor on one more batch of windows, with its ``partial_fit``.

        Only available when ``regressor`` has ``partial_fit`` (e.g.
        ``SGDRegressor``,
        :class:`~sklearn.neural_network.MLPRegressor`, or a
        :class:`~sklearn.multioutput.MultiOutputRegressor` of one). Each batch
        is normalized as :meth:`fit` normalizes its windows (every window and
        its targets by the window's own statistics, one row per target
        variate with ``channel_independent=True``), and the fitted clones of
        ``regressor`` (``regressors_``, created by the first call, or those
        of a previous :meth:`fit`) get it through their own ``partial_fit``.

        The first call sets the layout (``revin_``, ``target_variates_``,
        ``n_features_in_``, ``window_weights_``); later batches must have the
        same columns in ``X`` and ``y``. With ``window_weights="scale"`` the
        weights of every batch are divided by one constant,
        ``window_weight_divisors_``: the mean weight of the first batch (of
        all blocks, for a first call on dask arrays), or of the windows of a
        previous :meth:`fit`, so that a window weighs the same whichever
        batch holds it. ``window_weights="scale_free"`` needs all windows of
        a series at once: it is an error here.

        Dask arrays ``X`` and ``y`` (chunked by rows) make one more pass over
        their row blocks, one block computed at a time (see :ref:`scaling`);
        call ``partial_fit`` again for further passes.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_variates * n_steps)
            A batch of input windows, variate-major, or a dask array of them.
        y : array-like of shape (n_windows,) or (n_windows, n_targets * horizon)
            What follows each window, as in :meth:`fit`.
        sample_weight : array-like of shape (n_windows,), default=None
            Weight of each window of the batch, as in :meth:`fit`.
        **fit_params : dict
            Passed to the ``partial_fit`` method of the regressor. With
            metadata routing enabled, only what the regressor requested for
            ``partial_fit``.

        Returns
        -------
        self : object
            Fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import SGDRegressor
        >>> from sklearn_revin import RevINRegressor, make_windows
        >>> t = np.arange(2000.0)
        >>> X, Y = make_windows(0.1 * t + np.sin(t / 4), window=16, horizon=1)
        >>> y = Y.ravel()  # one step of one variate: 1-D, as SGDRegressor wants
        >>> model = RevINRegressor(SGDRegressor(random_state=0))
        >>> for batch in range(3):
        ...     rows = slice(500 * batch, 500 * (batch + 1))
        ...     model = model.partial_fit(X[rows], y[rows])
        >>> error = np.mean((model.predict(X[1500:]) - y[1500:]) ** 2)
        >>> bool(error < 0.05)
        True
        """
        first = not hasattr(self, "regressors_")
        if sample_weight is not None:
            fit_params = {"sample_weight": sample_weight, **fit_params}
        check_dense_tensor(X), check_dense_tensor(y, name="y")
        if array_api_tensors(X, y, *fit_params.values(), estimator="RevINRegressor"):
            with config_context(array_api_dispatch=False):
                host_params = {name: to_host(v) for name, v in fit_params.items()}
                return self.partial_fit(to_host(X), to_host(y), **host_params)
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, "
                "but the target y is None."
            )
        routed = self._route_fit_params(fit_params, "partial_fit")
        fit_params = dict(routed.regressor.partial_fit)
        sample_weight = fit_params.pop("sample_weight", None)
        window_weights = (
            self._resolve_window_weights(series_of_rows(X))
            if first
            else self.window_weights_
        )
        _incremental.refuse_scale_free(window_weights, "partial_fit")
        _incremental.check_partial_fit_weights(
            self._regressor(), window_weights, sample_weight
        )
        if first:
            X, non_numeric = split_non_numeric(X, self._make_revin().passthrough)
        else:
            X, non_numeric = split_non_numeric(
                X, None, resolved=self.revin_.passthrough_.tolist()
            )
        if non_numeric is not None and self.channel_independent:
            raise ValueError(
                "channel_independent=True fits one row per variate of plain "
                "numbers; non-numeric passthrough columns need "
                "channel_independent=False."
            )
        dask_input = _dask.is_dask_collection(X) or _dask.is_dask_collection(y)
        X, y, X_frame, y_frame = self._validate_fit_data(
            X, y, dask_input=dask_input, reset=first
        )
        if sample_weight is not None:
            sample_weight = _as_sample_weight(sample_weight, X.shape[0])
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self.window_weights_ = window_weights
            self._training_dim, self._y_frame, self._y_width = (
                y.ndim,
                y_frame,
                Y.shape[1],
            )
            self.revin_ = self._make_revin().fit(
                _dask.stand_in(X)
                if dask_input
                else _first_window(_with_names(X, X_frame))
            )
            if not dask_input:
                _misuse.warn_if_unstated_layout(self.revin_, X)
            targets = self.target_variates_ = self._fit_targets(y_frame)
            self._check_y_width(Y, targets)
            _misuse.warn_if_quantiles_reversed(
                self.revin_.gamma_[targets], self.regressor
            )
        else:
            _incremental.check_batch_layout(
                y.ndim,
                Y.shape[1],
                expected_ndim=self._training_dim,
                expected_width=self._y_width,
            )
        if dask_input:
            _dask_fit.fit_dask_blocks(
                self,
                X,
                Y,
                sample_weight,
                regressor=self._regressor(),
                fit_sets=self._fit_sets,
                fit_params=fit_params,
                fresh=first,
            )
        else:
            _incremental.partial_fit_batch(
                self,
                _with_names(X, X_frame),
                Y,
                sample_weight,
                regressor=self._regressor(),
                fit_sets=self._fit_sets,
                fit_params=fit_params,
                non_numeric=non_numeric,
            )
        return self

    def _validate_fit_data(self, X, y, *, dask_input, reset=True):
        """``validate_data`` of fit's ``X`` and ``y``: ``X, y, X_frame, y_frame``.

        ``X_frame`` is ``X`` as it came (a data frame keeps its column names
        for revin), ``y_frame`` the library and names of a data-frame ``y``.
        Dask arrays are checked on stand-ins and come back as they are, lazy.
        """
        X_frame, y_frame = X, _frame_description(y)
        X_dask, y_dask = X, y
        if dask_input:  # checked on stand-ins; the data stay lazy
            X, y = _dask.stand_in(X), _dask.stand_in(y)
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=FLOAT_DTYPES,
            multi_output=True,
            y_numeric=True,
            ensure_all_finite=self._ensure_all_finite(),
        )
        if dask_input:
            return X_dask, y_dask, X_dask, None
        return X, y, X_frame, y_frame

    def _check_y_width(self, Y, targets):
        if Y.shape[1] % len(targets):
            raise ValueError(
                f"y has {Y.shape[1]} column(s), which is not a multiple of the "
                f"{len(targets)} target variate(s) (target_variates="
                f"{self.target_variates!r}): y must hold n_targets * horizon "
                "columns, variate-major."
            )

    # --------------------------- end of incremental (_incremental, _dask_fit)

    def predict(self, X):
        """Forecast from each window and map the forecast back to its scale.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_variates * n_steps)
            Input windows, with the layout seen in :term:`fit`.

        Returns
        -------
        y_pred : ndarray, pandas or polars object of shape (n_windows,) or \
                (n_windows, n_targets * horizon)
            Forecasts on the scale of the series, shaped as ``y`` in fit. An
            ndarray, except where both ``y`` in fit and this ``X`` are data
            frames (as :func:`make_windows` gives them for a frame): then a
            data frame of ``X``'s library with ``y``'s column names (a Series
            with ``y``'s name for a Series ``y``), indexed by ``X``'s index for
            pandas. A dask array X chunked by rows gives a lazy dask array,
            predicted chunk by chunk.
        """
        if _dask.is_dask_collection(X):
            return _dask.predict(self, X)
        check_dense_tensor(X)
        if array_api_tensors(X, estimator="RevINRegressor"):
            # array_api_dispatch=True with a tensor: a tensor on X's device.
            with config_context(array_api_dispatch=False):
                y_pred = self.predict(to_host(X))
            return from_host(y_pred, like=X)
        check_is_fitted(self)
        X_given = X
        X, non_numeric = split_non_numeric(
            X, None, resolved=self.revin_.passthrough_.tolist()
        )
        X_frame = X
        X = validate_data(
            self,
            X,
            reset=False,
            dtype=FLOAT_DTYPES,
            ensure_all_finite=self._ensure_all_finite(),
        )
        if isinstance(X_frame, np.ndarray) and non_numeric is None:
            # NumPy windows are forecast in chunks of rows: the normalized
            # copy and the regressor's input never exist whole.
            # The regressor's products run on the cores left idle (_blas).
            # Each chunk's forecast is written into the output as it comes:
            # a list of chunks joined at the end would hold the forecast twice.
            rows = _sufficient_statistics.rows_per_chunk(X.shape[1])
            with _blas.limited_blas(_blas.blas_threads()):
                y_pred = self._forecast(X[:rows], None, None)
                if len(X) > rows:
                    first, y_pred = (
                        y_pred,
                        np.empty((len(X), *y_pred.shape[1:]), y_pred.dtype),
                    )
                    y_pred[:rows] = first
                    del first
                    for start in range(rows, len(X), rows):
                        y_pred[start : start + rows] = self._forecast(
                            X[start : start + rows], None, None
                        )
        else:
            y_pred = self._forecast(X, X_frame, non_numeric)
        if self._training_dim == 1 and y_pred.shape[1] == 1:
            y_pred = y_pred.ravel()
        return _as_frame_like(y_pred, X_given, self._y_frame)

    def _forecast(self, X, X_frame, non_numeric):
        """Forecast validated windows ``X``: (n_windows, n_targets * horizon)."""
        X_revin = _with_names(X, X_frame)
        with warnings.catch_warnings():
            # validate_data in predict has warned already about missing names.
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            window_statistics = self.revin_.instance_statistics(X_revin)
            X_normalized = self.revin_.transform(X_revin)
        X_normalized = restore_non_numeric(X_normalized, non_numeric)
        inputs = self._regressor_input(X_normalized, window_statistics)
        if self.channel_independent:
            y_normalized = np.asarray(self.regressors_[0].predict(inputs))
        else:
            y_normalized = np.hstack(
                [
                    np.asarray(regressor.predict(inputs)).reshape(X.shape[0], -1)
                    for regressor in self.regressors_
                ]
            )
        y_normalized = y_normalized.reshape(X.shape[0], -1)
        return self.revin_.inverse_transform(
            y_normalized, statistics=window_statistics, variates=self.target_variates_
        )

    def get_metadata_routing(self):
        """Get metadata routing of this object.

        See scikit-learn's user guide on metadata routing for how the routing
        mechanism works, and :ref:`regressor`. The parameters of :meth:`fit`
        go to the ``fit`` of ``regressor`` where it requested them, e.g.
        ``RevINRegressor(Ridge().set_fit_request(sample_weight=True))``.

        Returns
        -------
        routing : MetadataRouter
            A ``sklearn.utils.metadata_routing.MetadataRouter``
            encapsulating routing information.
        """
        return MetadataRouter(owner=self).add(
            regressor=self._regressor(),
            method_mapping=MethodMapping()
            .add(caller="fit", callee="fit")
            .add(caller="partial_fit", callee="partial_fit")
            .add(caller="predict", callee="predict"),
        )

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

    def _route_fit_params(self, fit_params, method="fit"):
        """Return the fit parameters per consumer, routed or all to the regressor.

        With metadata routing, as in TransformedTargetRegressor: only what the
        regressor requested (an unrequested ``sample_weight`` is an error).
        """
        if get_config()["enable_metadata_routing"]:
            return process_routing(self, method, **fit_params)
        return Bunch(regressor=Bunch(**{method: fit_params}))

    def _ensure_all_finite(self):
        return "allow-nan" if get_tags(self._regressor()).input_tags.allow_nan else True

    def _resolve_window_weights(self, groups=None) -> str:
        regressor = self._regressor()
        refusal = _sample_weight_refusal(regressor)
        if self.window_weights == "auto":
            if refusal:
                return "uniform"
            return "scale" if groups is None else "scale_free"
        if self.window_weights in ("scale", "scale_free") and refusal:
            raise ValueError(
                f"window_weights={self.window_weights!r} fits the regressor with "
                f"a sample_weight per window, but {refusal}. Use "
                "window_weights='uniform' (every normalized window weighs "
                "alike), or a regressor whose fit takes sample_weight, e.g. "
                "Ridge(), RandomForestRegressor() or "
                "HistGradientBoostingRegressor(); a Pipeline takes RevINRegressor "
                "as its last step instead, e.g. make_pipeline(SimpleImputer(), "
                "RevINRegressor(Ridge()))."
            )
        return self.window_weights

    def _fit_sets(
        self,
        X_normalized,
        Y_normalized,
        targets,
        sample_weight,
        groups,
        divisors=None,
        revin=None,
    ):
        """Return ``[(X, Y, {"sample_weight": w} or {}), ...]`` and the divisors.

        One set per regressor to fit: one, except with weighted windows
        (``window_weights_`` other than "uniform") and several target variates
        of a shared input, where each target variate's windows weigh by their
        own statistics: one per target variate. The window weights of a set
        are divided by ``divisors[k]``, or, for None, by their (sample-weighted)
        mean over these windows (see ``_mean_one``); the divisors used are
        returned, for partial_fit's later batches (see ``_incremental``).
        ``revin`` holds the windows' statistics (``mean_``, ``scale_``); None
        means ``revin_``, as fit leaves it.
        """
        revin = self.revin_ if revin is None else revin
        n_windows, n_targets = X_normalized.shape[0], len(targets)
        horizon = Y_normalized.shape[1] // n_targets
        scale = self.window_weights_ != "uniform"
        factor = window_factors(
            self.window_weights_,
            revin,
            X_normalized,
            targets,
            groups,
            seasonality=self.seasonality,
        )
        statistics = InstanceStatistics(revin.mean_, revin.scale_)
        inputs = self._regressor_input(X_normalized, statistics)
        sets, used = [], []

        def add_set(X_part, Y_part, factor_part, weight_part, *, ravel):
            if ravel and Y_part.shape[1] == 1:
                Y_part = Y_part.ravel()
            divisor = (
                _weighted_mean(factor_part, weight_part)
                if divisors is None
                else divisors[len(sets)]
            )
            used.append(divisor)
            if not scale and weight_part is None:
                sets.append((X_part, Y_part, {}))
            else:
                weight = _mean_one(factor_part, weight_part, divisor)
                sets.append((X_part, Y_part, {"sample_weight": weight}))

        if self.channel_independent:
            weight = sample_weight
            if weight is not None:  # each window's weight for each of its variates
                weight = np.repeat(weight, n_targets)
            add_set(
                inputs,
                Y_normalized.reshape(n_windows * n_targets, horizon),
                factor.ravel(),
                weight,
                ravel=True,
            )
        elif scale and n_targets > 1:
            for k in range(n_targets):
                add_set(
                    inputs,
                    Y_normalized[:, k * horizon : (k + 1) * horizon],
                    factor[:, k],
                    sample_weight,
                    ravel=True,
                )
        else:
            # One target variate, or uniform weights: one weight per window.
            add_set(
                inputs,
                Y_normalized,
                factor[:, 0],
                sample_weight,
                ravel=self._training_dim == 1,
            )
        return sets, np.asarray(used, dtype=np.float64)

    def _regressor_input(self, X_normalized, statistics):
        """Return the rows the regressor sees: per window or per (window, variate).

        With ``window_statistics``, each row ends with the window's mean and
        scale (see _weights.statistics_features).
        """
        targets = self.target_variates_
        rows = X_normalized
        if self.channel_independent:
            rows = self._one_row_per_variate(X_normalized, targets)
        if not self.window_statistics:
            return rows
        extra = statistics_features(
            statistics, targets, channel_independent=self.channel_independent
        )
        return np.hstack([np.asarray(rows, dtype=np.float64), extra])

    def _one_row_per_variate(self, X_normalized, targets):
        """Rows (window, target variate) of ``n_steps`` values, window-major.

        Passthrough columns follow each variate's window, unnormalized; a view,
        not a copy, when all variates are targets in their order.
        """
        return _sufficient_statistics.one_row_per_variate(
            X_normalized,
            n_variates=self.revin_.n_variates_,
            n_steps=self.revin_.n_steps_,
            passthrough=self.revin_.passthrough_,
            targets=targets,
        )

    def _fit_from_statistics(self, X, Y, targets, sample_weight):
        """Fit Ridge or LinearRegression exactly, one chunk of windows at a time.

        The fit sets of :meth:`_fit_sets`, with the same weights, from the
        sufficient statistics of ``_sufficient_statistics``; dask X is reduced
        block by block on the dask workers.
        """
        if sample_weight is not None and not np.any(sample_weight):
            # Ridge.fit's own check (scikit-learn's _check_sample_weight).
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        n_targets = len(targets)
        horizon = Y.shape[1] // n_targets
        scale = self.window_weights_ == "scale"
        per_target = not self.channel_independent and scale and n_targets > 1
        plan = _sufficient_statistics.ChunkPlan(
            targets=tuple(targets),
            horizon=horizon,
            channel_independent=self.channel_independent,
            scale_weights=scale,
            per_target=per_target,
            n_variates=self.revin_.n_variates_,
            n_steps=self.revin_.n_steps_,
            passthrough=tuple(int(i) for i in self.revin_.passthrough_),
        )
        if self.channel_independent or per_target:
            ravel = [horizon == 1] * plan.n_sets
        else:
            ravel = [self._training_dim == 1]
        if _dask.is_dask_collection(X):
            # dask's threads are the parallelism: BLAS gets their share.
            with _blas.limited_blas(_blas.dask_task_threads()):
                statistics = _dask.fit_statistics(
                    self.revin_,
                    X,
                    Y,
                    sample_weight,
                    block_function=partial(
                        _sufficient_statistics.chunk_statistics, plan=plan
                    ),
                    combine=_sufficient_statistics.add_statistics,
                    verbose=self.verbose,
                )
        else:
            progress = _sufficient_statistics.Progress(
                self.verbose, X.shape[0], "sufficient statistics"
            )
            statistics = _sufficient_statistics.chunk_statistics(
                self.revin_, X, Y, sample_weight, plan, progress
            )
        return _sufficient_statistics.fitted_regressors(
            self._regressor(),
            statistics,
            ravel=ravel,
            dtype=X.dtype,
            n_features_in=(
                plan.n_steps + len(plan.passthrough)
                if self.channel_independent
                else X.shape[1]
            ),
        )

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
        defaults = RevINTransformer().get_params()
        for name in ("step_order", "passthrough"):
            value, inner = getattr(self, name), revin.get_params()[name]
            if value is None:
                continue
            if not _same(inner, defaults[name]) and not _same(inner, value):
                raise ValueError(
                    f"{name}={value!r}, but the revin transformer has "
                    f"{name}={inner!r}; set one of them only."
                )
            revin.set_params(**{name: value})
        return revin

    def _fit_targets(self, y_frame) -> list[int]:
        """Resolve the target variates; check them against ``y``'s column names."""
        targets = self._target_indices()
        named = None if y_frame is None else y_frame[1]
        parsed = None if named is None else parse_target_names(np.ravel(named))
        variate_names = self.revin_.variate_names_
        if parsed is None:
            return targets
        y_variates = parsed[0]
        if variate_names is None:
            return targets
        variate_names = list(variate_names)
        unknown = [name for name in y_variates if name not in variate_names]
        if unknown:
            raise ValueError(
                f"y's columns forecast {unknown}, which are not variates of X "
                f"({variate_names})."
            )
        from_y = [variate_names.index(name) for name in y_variates]
        if self.target_variates is None:
            return from_y
        if from_y != targets:
            raise ValueError(
                f"target_variates={self.target_variates!r} names the variates "
                f"{[variate_names[i] for i in targets]}, but y's columns hold "
                f"{y_variates}, in this order; its blocks of horizon columns "
                "must be the target variates'."
            )
        return targets

    def _target_indices(self) -> list[int]:
        n_variates = self.revin_.n_variates_
        if self.target_variates is None:
            return list(range(n_variates))
        targets = np.atleast_1d(np.asarray(self.target_variates, dtype=object))
        if targets.size and all(isinstance(t, str) for t in targets):
            targets = self._target_positions(targets.tolist())
        elif targets.size and all(
            isinstance(t, Integral) and not isinstance(t, bool) for t in targets
        ):
            targets = targets.astype(np.int64)
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

    def _target_positions(self, names: list[str]) -> np.ndarray:
        variate_names = self.revin_.variate_names_
        if variate_names is None:
            raise ValueError(
                f"target_variates={self.target_variates!r} names variates, but "
                "X has no variate names: they come from data-frame columns "
                "named as make_windows names them (name[t-k]). Pass variate "
                "indices instead."
            )
        variate_names = list(variate_names)
        unknown = [name for name in names if name not in variate_names]
        if unknown:
            raise ValueError(
                f"target_variates {unknown} are not variates of X ({variate_names})."
            )
        return np.asarray([variate_names.index(name) for name in names])


def _same(a, b) -> bool:
    """Whether two parameter values are equal (arrays and lists included)."""
    if a is None or b is None:
        return a is b
    return bool(
        np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    )


def _with_names(X, X_frame):
    """Return the data frame X came as, so that revin reads its column names."""
    return X_frame if hasattr(X_frame, "columns") and frame_library(X_frame) else X


def _first_window(X):
    """Return the first row of an array or a pandas or polars data frame."""
    return X.head(1) if hasattr(X, "head") else X[:1]


def _frame_description(y):
    """Return (library, names) of a data-frame ``y``: a list of columns, or a name."""
    library = frame_library(y)
    if library is None:
        return None
    if hasattr(y, "columns"):
        return library, [str(column) for column in y.columns]
    return library, y.name


def _as_frame_like(y_pred, X, y_frame):
    """Wrap ``y_pred`` as ``y`` was in fit, where X is a frame too; else as is."""
    library = frame_library(X)
    if library is None or y_frame is None or not hasattr(X, "columns"):
        return y_pred
    names = y_frame[1]
    if library == "pandas":
        import pandas as pd

        if y_pred.ndim == 1:
            return pd.Series(y_pred, index=X.index, name=names)
        return pd.DataFrame(y_pred, index=X.index, columns=names)
    import polars as pl

    if y_pred.ndim == 1:
        return pl.Series(names if isinstance(names, str) else "", y_pred)
    return pl.DataFrame(y_pred, schema=names, orient="row")


def _mean_one(factor, sample_weight, mean=None):
    """Return ``sample_weight * factor / mean``, by default ``factor``'s weighted mean.

    The window weights only matter relative to each other; dividing them by
    their mean keeps the size of the regressor's penalty (``Ridge``'s
    ``alpha``) independent of the unit of the series, and dividing by the
    mean weighted by ``sample_weight`` keeps integer weights equivalent to
    repeated windows. ``partial_fit`` passes the ``mean`` it fixed once.
    """
    if mean is None:
        mean = _weighted_mean(factor, sample_weight)
    if sample_weight is None:
        return factor / mean
    return sample_weight * factor / mean


def _weighted_mean(factor, sample_weight) -> float:
    """Return the mean of ``factor`` weighted by ``sample_weight`` (1.0 if all zero)."""
    if sample_weight is None:
        return float(np.mean(factor))
    total = np.sum(sample_weight)
    # All zero: let the regressor's fit say.
    return float(np.sum(sample_weight * factor) / total) if total > 0 else 1.0


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


def _as_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """Return sample_weight as finite float64 of shape (n_samples,).

    The checks of scikit-learn's private ``_check_sample_weight``, with its
    messages, through public functions: a scalar weighs every sample alike.
    """
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim == 0:
        return np.full(n_samples, float(weights))
    weights = check_array(
        weights, ensure_2d=False, dtype=np.float64, input_name="sample_weight"
    )
    if weights.ndim != 1:
        raise ValueError("Sample weights must be 1D array or scalar")
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {weights.shape}, expected {(n_samples,)}!"
        )
    return weights
