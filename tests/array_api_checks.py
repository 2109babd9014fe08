"""Checks of RevIN under ``sklearn.set_config(array_api_dispatch=True)``.

scikit-learn's array API dispatch needs SciPy's own, which SciPy reads from
the environment once, at import (``SCIPY_ARRAY_API=1``). These checks are
therefore run by tests/test_array_api.py in a fresh interpreter with that
variable set; ``python tests/array_api_checks.py NAME...`` runs them by hand.
Each check raises on failure; the runner prints one JSON line per check.
"""

import json
import sys
import traceback

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_array_api_input,
    check_array_api_input_and_values,
)

from sklearn_revin import RevINRegressor, RevINTransformer, make_windows


def _series_windows(dtype):
    rng = np.random.RandomState(0)
    series = np.cumsum(rng.normal(size=(300, 2)), axis=0) + np.array([100.0, -40.0])
    X, Y = make_windows(series.astype(dtype), window=12, horizon=3)
    return X, Y


def _regressors():
    return [
        RevINRegressor(Ridge(alpha=0.5), n_variates=2),  # array API aware inside
        RevINRegressor(  # NumPy only inside
            RandomForestRegressor(n_estimators=5, random_state=0), n_variates=2
        ),
    ]


def regressor_tensors_give_the_numpy_forecast_as_tensors():
    """Fit and predict on tensors equal the NumPy path; the output is a tensor."""
    for dtype in (np.float64, np.float32):
        X, Y = _series_windows(dtype)
        weights = np.linspace(0.5, 2.0, len(X))
        for model in _regressors():
            expected = clone(model).fit(X, Y, sample_weight=weights).predict(X)
            univariate = clone(model).set_params(target_variates=0)
            expected_1d = clone(univariate).fit(X, Y[:, 0]).predict(X)
            with config_context(array_api_dispatch=True):
                fitted = clone(model).fit(
                    torch.from_numpy(X),
                    torch.from_numpy(Y),
                    sample_weight=torch.from_numpy(weights),
                )
                predicted = fitted.predict(torch.from_numpy(X))
                score = fitted.score(torch.from_numpy(X), torch.from_numpy(Y))
                predicted_1d = (
                    clone(univariate)
                    .fit(torch.from_numpy(X), torch.from_numpy(Y[:, 0]))
                    .predict(torch.from_numpy(X))
                )
            assert isinstance(predicted, torch.Tensor), type(predicted)
            assert predicted.device.type == "cpu"
            assert predicted.dtype == torch.from_numpy(expected).dtype
            assert_array_equal(predicted.numpy(), expected)
            assert predicted_1d.shape == expected_1d.shape == (len(X),)
            assert_array_equal(predicted_1d.numpy(), expected_1d)
            assert isinstance(score, float)


def transformer_tensors_give_the_numpy_result_as_tensors():
    """Every transformer method on tensors equals the NumPy path, as tensors."""
    X, Y = _series_windows(np.float64)
    revin = RevINTransformer(n_variates=2, gamma=[1.5, 0.5]).fit(X)
    statistics = revin.instance_statistics(X)
    expected = (
        revin.transform(X),
        revin.inverse_transform(Y, statistics=statistics),
        revin.normalize_with(Y, statistics),
    )
    with config_context(array_api_dispatch=True):
        fitted = RevINTransformer(n_variates=2, gamma=[1.5, 0.5]).fit(
            torch.from_numpy(X)
        )
        tensor_statistics = fitted.instance_statistics(torch.from_numpy(X))
        results = (
            fitted.transform(torch.from_numpy(X)),
            fitted.inverse_transform(torch.from_numpy(Y), statistics=tensor_statistics),
            fitted.normalize_with(torch.from_numpy(Y), tensor_statistics),
        )
    for result, reference in zip(results, expected, strict=True):
        assert isinstance(result, torch.Tensor), type(result)
        assert_allclose(result.numpy(), reference, rtol=1e-12, atol=1e-12)


def other_namespaces_are_a_clear_error():
    """array-api-strict arrays under dispatch: a TypeError naming what works."""
    import array_api_strict as xp

    X, Y = _series_windows(np.float64)
    X_strict, Y_strict = xp.asarray(X), xp.asarray(Y)
    message = "takes NumPy arrays or torch tensors under array_api_dispatch=True"
    fitted_regressor = RevINRegressor(n_variates=2).fit(X, Y)
    fitted_transformer = RevINTransformer(n_variates=2).fit(X)
    calls = [
        lambda: RevINRegressor(n_variates=2).fit(X_strict, Y_strict),
        lambda: RevINRegressor(n_variates=2).fit(X, Y_strict),
        lambda: fitted_regressor.predict(X_strict),
        lambda: RevINTransformer(n_variates=2).fit(X_strict),
        lambda: fitted_transformer.transform(X_strict),
        lambda: fitted_transformer.inverse_transform(Y_strict),
    ]
    for call in calls:
        with (
            config_context(array_api_dispatch=True),
            pytest.raises(TypeError, match=message) as error,
        ):
            call()
        assert "array_api_strict" in str(error.value), str(error.value)


def scikit_learn_array_api_checks_pass():
    """scikit-learn's own array API checks, as far as RevIN supports them.

    With NumPy under dispatch (what parametrize_with_checks runs for an
    estimator without the array API tag, and skips without SCIPY_ARRAY_API),
    and with torch on the CPU for the regressor, values compared.
    """
    for estimator in (RevINTransformer(), RevINRegressor()):
        name = type(estimator).__name__
        check_array_api_input(
            name, estimator, array_namespace="numpy", expect_only_array_outputs=False
        )
    for estimator in _regressors():
        estimator.set_params(n_variates=None)
        for dtype_name in ("float64", "float32"):
            check_array_api_input_and_values(
                "RevINRegressor",
                estimator,
                array_namespace="torch",
                device_name="cpu",
                dtype_name=dtype_name,
            )


def array_api_tag_is_not_declared():
    """The tag stays False: other namespaces and tensor fitted attributes fail.

    RevINTransformer keeps NumPy fitted attributes for tensor input and neither
    estimator takes array-api-strict, CuPy or JAX arrays, which the checks of
    an estimator with the tag require.
    """
    for estimator in (RevINTransformer(), RevINRegressor()):
        assert get_tags(estimator).array_api_support is False


CHECKS = {
    function.__name__: function
    for function in (
        regressor_tensors_give_the_numpy_forecast_as_tensors,
        transformer_tensors_give_the_numpy_result_as_tensors,
        other_namespaces_are_a_clear_error,
        scikit_learn_array_api_checks_pass,
        array_api_tag_is_not_declared,
    )
}


def main(names):
    """Run the named checks (all by default); print one JSON line per check."""
    for name in names or CHECKS:
        try:
            CHECKS[name]()
            outcome = "passed"
        except Exception:  # reported to the caller, who fails the test
            outcome = traceback.format_exc()
        print(json.dumps({"check": name, "outcome": outcome}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
