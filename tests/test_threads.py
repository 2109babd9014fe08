"""Tests of the scoped thread count of RevIN's own kernels (sklearn_revin._threads)."""

import threading

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from sklearn_revin import RevINTransformer, _cpus, _threads
from sklearn_revin._functional import (
    apply_statistics,
    denormalize,
    normalize_windows,
)
from sklearn_revin._threads import (
    BYTES_PER_THREAD,
    POOL_BYTES_PER_THREAD,
    kernel_threads,
    pool_threads,
    scoped_threads,
)


def _thread_state():
    return torch.get_num_threads(), [
        (info["filepath"], info["num_threads"]) for info in threadpool_info()
    ]


@pytest.fixture
def many_idle_cpus(monkeypatch):
    """Pretend to run on an idle 8-core machine: more than 1 thread may be chosen."""
    monkeypatch.setattr(_cpus, "usable_cpus", lambda: 8)
    monkeypatch.setattr(_cpus, "idle_cpus", lambda: 8)


@pytest.fixture
def two_torch_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_small_calls_get_one_thread(many_idle_cpus, two_torch_threads):
    assert kernel_threads(BYTES_PER_THREAD - 1) == 1


def test_large_calls_get_at_most_half_the_cores(many_idle_cpus, monkeypatch):
    # Other OpenMP runtimes (scikit-learn's) default to this machine's count.
    monkeypatch.setattr(_threads, "_caller_limit", lambda: 64)
    previous = torch.get_num_threads()
    torch.set_num_threads(8)
    try:
        assert kernel_threads(100 * BYTES_PER_THREAD) == 4
    finally:
        torch.set_num_threads(previous)


def test_torch_set_num_threads_of_the_caller_is_an_upper_bound(many_idle_cpus):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert kernel_threads(100 * BYTES_PER_THREAD) == 1
        with scoped_threads(100 * BYTES_PER_THREAD) as threads:
            assert threads == 1
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


def test_threadpool_limits_of_the_caller_is_an_upper_bound(
    many_idle_cpus, two_torch_threads
):
    assert kernel_threads(100 * BYTES_PER_THREAD) == 2
    with threadpool_limits(limits=1, user_api="openmp"):
        assert kernel_threads(100 * BYTES_PER_THREAD) == 1


def test_a_dask_worker_gets_its_share_of_the_cores(
    monkeypatch, many_idle_cpus, two_torch_threads
):
    class Worker:
        class state:  # mimics distributed's Worker.state
            nthreads = 8

    class Distributed:
        @staticmethod
        def get_worker():
            return Worker()

    monkeypatch.setitem(_threads.sys.modules, "distributed", Distributed)
    assert kernel_threads(100 * BYTES_PER_THREAD) == 1


def test_threads_runnable_elsewhere_leave_their_cores_alone(
    monkeypatch, two_torch_threads
):
    monkeypatch.setattr(_cpus, "usable_cpus", lambda: 8)
    monkeypatch.setattr(_cpus, "threads_wanting_a_cpu", lambda: 7)
    assert kernel_threads(100 * BYTES_PER_THREAD) == 1
    assert pool_threads(100 * POOL_BYTES_PER_THREAD) == 1


def test_pool_threads_may_use_every_idle_core(many_idle_cpus, monkeypatch):
    monkeypatch.setattr(_threads, "_caller_limit", lambda: 64)
    previous = torch.get_num_threads()
    torch.set_num_threads(8)
    try:
        assert pool_threads(100 * POOL_BYTES_PER_THREAD) == 8
        assert kernel_threads(100 * BYTES_PER_THREAD) == 4
        assert pool_threads(POOL_BYTES_PER_THREAD - 1) == 1
    finally:
        torch.set_num_threads(previous)


def test_pool_threads_inside_a_scope_keep_the_callers_limits(
    many_idle_cpus, two_torch_threads
):
    with scoped_threads(1) as threads:  # a small call: torch at 1 inside
        assert threads == torch.get_num_threads() == 1
        assert pool_threads(100 * POOL_BYTES_PER_THREAD) == 2
    with threadpool_limits(limits=1, user_api="openmp"), scoped_threads(1):
        assert pool_threads(100 * POOL_BYTES_PER_THREAD) == 1
    assert pool_threads(100 * POOL_BYTES_PER_THREAD) == 2


def test_other_devices_keep_torch_s_count():
    assert kernel_threads(100 * BYTES_PER_THREAD, "meta") == torch.get_num_threads()


def test_scope_restores_torch_threads_after_an_error(monkeypatch, two_torch_threads):
    monkeypatch.setattr(_threads, "kernel_threads", lambda n_bytes, device="cpu": 1)
    inside = []

    def fail():
        with scoped_threads(10):
            inside.append(torch.get_num_threads())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert inside == [1]
    assert torch.get_num_threads() == 2


def test_scope_in_another_thread_leaves_this_thread_alone(
    monkeypatch, two_torch_threads
):
    monkeypatch.setattr(_threads, "kernel_threads", lambda n_bytes, device="cpu": 1)
    inside = threading.Event()
    release = threading.Event()
    seen = []

    def worker():
        with scoped_threads(10):
            seen.append(torch.get_num_threads())
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    try:
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        release.set()
        thread.join()


@pytest.mark.parametrize("method", ["fit_transform", "transform", "inverse_transform"])
def test_torch_and_threadpoolctl_state_is_the_same_after_a_call(
    method, monkeypatch, two_torch_threads
):
    # Force a thread count other than torch's inside the call.
    monkeypatch.setattr(_threads, "kernel_threads", lambda n_bytes, device="cpu": 1)
    X = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    revin = RevINTransformer().fit(X)
    before = _thread_state()
    if method == "fit_transform":
        RevINTransformer().fit_transform(X)
    elif method == "transform":
        revin.transform(X)
    else:
        revin.inverse_transform(revin.transform(X))
    assert _thread_state() == before


def test_caller_limits_are_in_force_inside_the_kernels(monkeypatch, two_torch_threads):
    seen = []
    real_kernel, real_pool = _threads.kernel_threads, _threads.pool_threads

    def spy(n_bytes, device="cpu"):
        seen.append(real_kernel(n_bytes, device))
        return seen[-1]

    def pool_spy(n_bytes):
        seen.append(real_pool(n_bytes))
        return seen[-1]

    monkeypatch.setattr(_threads, "kernel_threads", spy)
    monkeypatch.setattr(_threads, "pool_threads", pool_spy)
    monkeypatch.setattr(_cpus, "usable_cpus", lambda: 8)
    monkeypatch.setattr(_cpus, "idle_cpus", lambda: 8)
    monkeypatch.setattr(_threads, "BYTES_PER_THREAD", 1)
    monkeypatch.setattr(_threads, "POOL_BYTES_PER_THREAD", 1)
    X = np.random.default_rng(0).standard_normal((300, 16))
    with threadpool_limits(limits=1, user_api="openmp"):
        RevINTransformer().fit_transform(X)
    assert set(seen) == {1}
    seen.clear()
    RevINTransformer().fit_transform(X)
    assert set(seen) == {2}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_results_are_bitwise_equal_across_thread_counts(dtype, monkeypatch):
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.standard_normal((64, 3, 333)) * 5 + 1e3).to(dtype)
    x[5, 1, 7] = torch.nan
    gamma = torch.tensor([1.0, 2.0, 0.5], dtype=dtype)
    beta = torch.zeros(3, dtype=dtype)
    outputs = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(
            _threads, "kernel_threads", lambda n_bytes, device="cpu", t=threads: t
        )
        monkeypatch.setattr(_threads, "pool_threads", lambda n_bytes, t=threads: t)
        z, stats = normalize_windows(x, gamma, beta, eps=1e-5, out=torch.empty_like(x))
        back = denormalize(z, stats.loc, stats.scale, gamma, beta)
        # The transformer's way back: the fused kernel where numba is installed.
        kept = apply_statistics(
            denormalize,
            z,
            stats.loc.double().numpy(),
            stats.scale.double().numpy(),
            gamma.double().numpy(),
            beta.double().numpy(),
            inverse="exact",
            eps=1e-5,
        )
        outputs.append((z, stats.loc, stats.scale, back, kept))
    for other in outputs[1:]:
        for a, b in zip(outputs[0], other, strict=True):
            assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))
