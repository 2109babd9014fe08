"""scikit-learn's estimator checks over every public estimator."""

from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge, SGDRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from sklearn_revin import RevINRegressor, RevINTransformer

# The checks build 2-D X with a fixed number of columns (1, 2, 3, 4, 5 or 10
# depending on the check). A transformer configured for two variates reads the
# columns as two variate-major windows, so X with an odd number of columns is
# not a valid input for it and is refused with a ValueError by design (tested
# in test_transformer.py). These are the checks whose data has an odd width.
_ODD_WIDTH = (
    "the check's X has an odd number of columns, which cannot be split into "
    "n_variates=2 windows; the ValueError is the documented behaviour"
)


# copy=False normalizes X in place, which is what it is for. This check calls
# transform on X and then on a permutation of the same, already normalized, X;
# with gamma != 1 the second call rescales the data a second time.
_IN_PLACE = (
    "copy=False writes into X by design, and the check transforms the same X "
    "twice; the in-place contract is tested in test_transformer.py"
)


def _expected_failed_checks(estimator):
    if not estimator.copy:
        return {"check_methods_sample_order_invariance": _IN_PLACE}
    if estimator.n_variates == 2:
        return {
            name: _ODD_WIDTH
            for name in (
                "check_fit_score_takes_y",
                "check_dont_overwrite_parameters",
                "check_estimators_dtypes",
                "check_pipeline_consistency",
                "check_estimators_pickle",
                "check_f_contiguous_array_estimator",
                "check_transformer_data_not_an_array",
                "check_transformer_general",
                "check_transformer_preserve_dtypes",
                "check_methods_sample_order_invariance",
                "check_methods_subset_invariance",
                "check_dict_unchanged",
                "check_fit2d_predict1d",
            )
        }
    return {}


@parametrize_with_checks(
    [
        RevINTransformer(),
        RevINTransformer(gamma=[2.0], beta=[-1.0], eps=1e-3, device="cpu"),
        RevINTransformer(gamma=[-0.5], copy=False),
        RevINTransformer(eps_mode="add_std", center="last", inverse="source"),
        RevINTransformer(n_variates=2, gamma=[1.5, -0.7], beta=[0.1, -2.0]),
        RevINTransformer(passthrough=[0], step_order="newest_first", center="last"),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    """Check conformance to the scikit-learn estimator API."""
    check(estimator)


# A random forest draws bootstrap samples, so weighting a window by 2 is not the
# same fit as repeating it; scikit-learn expects this check to fail for
# RandomForestRegressor itself (sklearn/utils/_test_common/instance_generator.py).
_FOREST_WEIGHTS = (
    "RandomForestRegressor's bootstrap makes sample_weight differ from repeated "
    "samples; scikit-learn marks the same check as failing for the forest itself"
)


# KNeighborsRegressor.fit takes no sample_weight, so RevINRegressor refuses one
# with a ValueError naming the regressor (test_regressor.py), which is what these
# checks of sample_weight support get.
_NO_WEIGHTS = (
    "KNeighborsRegressor.fit takes no sample_weight; RevINRegressor refuses a "
    "sample_weight it cannot pass on, with a ValueError naming the regressor"
)
_SAMPLE_WEIGHT_CHECKS = (
    "check_sample_weights_pandas_series",
    "check_sample_weights_not_an_array",
    "check_sample_weights_list",
    "check_all_zero_sample_weights_error",
    "check_sample_weights_shape",
    "check_sample_weights_not_overwritten",
    "check_sample_weight_equivalence_on_dense_data",
)


_SHORT_WINDOWS = (
    "these checks fit X of 2 columns: windows of fewer than seasonality + 1 "
    "steps, too short to measure a seasonal step for window_weights="
    "'scale_free' (an error that names both)"
)
_TWO_COLUMN_CHECKS = (
    "check_estimators_overwrite_params",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_sample_weights_pandas_series",
    "check_sample_weights_not_an_array",
    "check_sample_weights_shape",
    "check_sample_weights_not_overwritten",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
)


# scikit-learn marks the same check as failing for SGDRegressor itself
# (sklearn/utils/_test_common/instance_generator.py).
_SGD_WEIGHTS = (
    "SGDRegressor: sample_weight is not equivalent to removing/repeating "
    "samples (stochastic updates), as scikit-learn's own expected failures say"
)


def _regressor_expected_failed_checks(estimator):
    failures = {}
    if isinstance(estimator.regressor, KNeighborsRegressor):
        failures.update(dict.fromkeys(_SAMPLE_WEIGHT_CHECKS, _NO_WEIGHTS))
    if estimator.n_variates == 2:
        failures.update(
            {
                name: _ODD_WIDTH
                for name in (
                    "check_estimators_dtypes",
                    "check_fit_score_takes_y",
                    "check_pipeline_consistency",
                    "check_estimators_nan_inf",
                    "check_estimators_pickle",
                    "check_f_contiguous_array_estimator",
                    "check_supervised_y_2d",
                    "check_methods_sample_order_invariance",
                    "check_methods_subset_invariance",
                    "check_dict_unchanged",
                    "check_dont_overwrite_parameters",
                    "check_fit2d_predict1d",
                    "check_sample_weights_list",
                )
            }
        )
    if isinstance(estimator.regressor, RandomForestRegressor):
        failures["check_sample_weight_equivalence_on_dense_data"] = _FOREST_WEIGHTS
    if isinstance(estimator.regressor, SGDRegressor):
        failures["check_sample_weight_equivalence_on_dense_data"] = _SGD_WEIGHTS
    steps_of_two_columns = 2 // (estimator.n_variates or 1)
    if (
        estimator.window_weights == "scale_free"
        and steps_of_two_columns <= estimator.seasonality
    ):
        failures.update(dict.fromkeys(_TWO_COLUMN_CHECKS, _SHORT_WINDOWS))
    return failures


@parametrize_with_checks(
    [
        RevINRegressor(),
        RevINRegressor(
            RandomForestRegressor(n_estimators=5, random_state=0),
            revin=RevINTransformer(gamma=[2.0], beta=[0.5], eps=1e-3, device="cpu"),
        ),
        RevINRegressor(HistGradientBoostingRegressor(max_iter=10)),
        RevINRegressor(KNeighborsRegressor(), n_variates=2, target_variates=[1]),
        RevINRegressor(window_weights="uniform"),
        RevINRegressor(
            Ridge(alpha=0.5),
            revin=RevINTransformer(gamma=[-0.5], beta=[1.0]),
            channel_independent=True,
            window_weights="scale",
        ),
        RevINRegressor(
            Ridge(), n_variates=2, target_variates=[1], channel_independent=True
        ),
        RevINRegressor(
            Ridge(), n_variates=2, target_variates=0, window_weights="scale"
        ),
        RevINRegressor(KNeighborsRegressor(), channel_independent=True),
        RevINRegressor(
            Ridge(),
            passthrough=[0],
            step_order="newest_first",
            revin=RevINTransformer(center="last"),
        ),
        RevINRegressor(Ridge(), passthrough=[-1], channel_independent=True),
        RevINRegressor(Ridge(fit_intercept=False), verbose=1),
        RevINRegressor(window_weights="scale_free", window_statistics=True),
        RevINRegressor(Ridge(), window_weights="scale_free", seasonality=2),
        RevINRegressor(
            Ridge(),
            n_variates=2,
            target_variates=[1],
            channel_independent=True,
            window_weights="scale_free",
            window_statistics=True,
        ),
        # partial_fit (the regressor has one): check_estimators_partial_fit_n_features
        RevINRegressor(SGDRegressor(shuffle=False, random_state=0)),
    ],
    expected_failed_checks=_regressor_expected_failed_checks,
)
def test_sklearn_compatible_regressor(estimator, check):
    """Check scikit-learn's estimator contract, with default and other parameters."""
    # HistGradientBoosting on these tiny data sets: OpenMP threads on a busy
    # 2-core machine cost seconds per fit instead of saving any.
    with threadpool_limits(limits=1, user_api="openmp"):
        check(estimator)
