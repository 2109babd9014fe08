"""Shared fixtures: the global random seed, hypothesis profiles, a NumPy reference."""

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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


# Public data sets live beside the clone, not in the project (../shared/data;
# its README names the sources); an unpacked sdist has no copy of them.
PUBLIC_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PUBLIC_SOURCES = {
    "ETTh1.csv": "zhouhaoyi/ETDataset, ETT-small/",
    "ETTh2.csv": "zhouhaoyi/ETDataset, ETT-small/",
    "m4/Hourly-train.csv": "Mcompetitions/M4-methods, Dataset/Train/",
    "m4/Hourly-test.csv": "Mcompetitions/M4-methods, Dataset/Test/",
}


@pytest.fixture
def public_data():
    """Return the path of a public data file in ../shared/data, or skip saying why.

    ``public_data("ETTh2.csv")`` skips the test, naming the file and its
    public source, when the file is not there (as in an unpacked sdist).
    """

    def path_of(name: str) -> Path:
        path = PUBLIC_DATA / name
        if not path.is_file():
            pytest.skip(
                f"{name} is not in {PUBLIC_DATA} (public: "
                f"{PUBLIC_SOURCES.get(name, 'see ../shared/data/README.md')})"
            )
        return path

    return path_of


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    """Start distributed LocalClusters of worker processes; return their clients.

    ``local_cluster(n_workers, memory_limit=...)`` starts a cluster of
    ``n_workers`` processes of one thread each and returns its
    ``distributed.Client``, for a module-scoped fixture. The clusters close
    at the end of the module, and no worker process may outlive it.
    """
    distributed = pytest.importorskip("distributed")
    psutil = pytest.importorskip("psutil")
    started = []

    def start(n_workers, *, memory_limit):
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address="127.0.0.1:0",  # no fixed port: runs may overlap
            local_directory=str(tmp_path_factory.mktemp("dask-worker-space")),
            silence_logs=40,
        )
        client = distributed.Client(cluster)
        started.append((client, cluster, list(client.run(os.getpid).values())))
        return client

    def alive(pid):
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    try:
        yield start
    finally:
        for client, cluster, _ in reversed(started):
            client.close()
            cluster.close()
    worker_pids = [pid for *_, pids in started for pid in pids]
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in worker_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in worker_pids if alive(pid)]


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


@st.composite
def strided_views(draw, *, ndim=2, max_side=6):
    """A float base array and a function giving a strided view of any array like it.

    Each axis is sliced with a step in -3..3 (0 excluded) from an offset, so
    that the view has positive or negative strides and gaps; the base is in C
    or Fortran order, and a 2-D view may be transposed. Returns ``(base,
    view_of)``: ``view_of(base)`` is the view, and ``view_of(other)`` the same
    elements of another array of base's shape.
    """
    lengths = draw(st.lists(st.integers(1, max_side), min_size=ndim, max_size=ndim))
    steps = draw(
        st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=ndim, max_size=ndim)
    )
    offsets = draw(st.lists(st.integers(0, 2), min_size=ndim, max_size=ndim))
    order = draw(st.sampled_from("CF"))
    transpose = ndim == 2 and draw(st.booleans())
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    base_shape = tuple(
        offset + length * abs(step) + 1
        for offset, length, step in zip(offsets, lengths, steps, strict=True)
    )
    base = np.asarray(
        rng.normal(size=base_shape) * rng.uniform(0.5, 5) + rng.uniform(-50, 50),
        dtype=dtype,
        order=order,
    )
    key = tuple(
        slice(offset, offset + length * abs(step), abs(step))
        for offset, length, step in zip(offsets, lengths, steps, strict=True)
    )
    flips = tuple(slice(None, None, -1 if step < 0 else 1) for step in steps)

    def view_of(array):
        view = array[key][flips]
        return view.T if transpose else view

    return base, view_of
