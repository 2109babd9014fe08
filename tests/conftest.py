"""Shared fixtures: the global random seed, hypothesis profiles, a NumPy reference."""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _seeds_from_environment():
    """Read SKLEARN_TESTS_GLOBAL_RANDOM_SEED as scikit-learn does: all, a-b or n."""
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", "42")
    if value == "all":
        return list(range(100))
    if "-" in value:
        start, stop = (int(part) for part in value.split("-"))
        return list(range(start, stop + 1))
    return [int(value)]


@pytest.fixture(params=_seeds_from_environment())
def global_random_seed(request):
    """A seed that the test must pass for; set SKLEARN_TESTS_GLOBAL_RANDOM_SEED=all."""
    return request.param


def numpy_revin(windows, gamma=None, beta=None, eps=1e-5):
    """Plain NumPy RevIN of (n_instances, n_variates, n_steps) windows, in float64.

    Written from the formula, independently of the package: NaN-ignoring mean
    and biased variance per window, scale sqrt(max(var, eps)), and gamma whose
    magnitude is raised to eps keeping its sign (0 becomes +eps).
    """
    windows = np.asarray(windows, dtype=np.float64)
    n_variates = windows.shape[1]
    gamma = np.ones(n_variates) if gamma is None else np.asarray(gamma, float)
    beta = np.zeros(n_variates) if beta is None else np.asarray(beta, float)
    gamma = np.where(gamma < 0, -1.0, 1.0) * np.maximum(np.abs(gamma), eps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        mean = np.nanmean(windows, axis=-1)
        variance = np.nanvar(windows, axis=-1)
    scale = np.sqrt(np.maximum(variance, eps))
    normalized = (windows - mean[..., None]) / scale[..., None]
    return normalized * gamma[:, None] + beta[:, None], mean, scale
