"""Tests of the BLAS thread count of the compute-bound products."""

import os
import threading

import pytest

from sklearn_revin._blas import (
    _blas_libraries,
    blas_threads,
    dask_task_threads,
    limited_blas,
)

USABLE = len(os.sched_getaffinity(0))


def _counts():
    return [library.get_num_threads() for library in _blas_libraries()]


def test_blas_threads_in_the_main_thread_is_between_one_and_the_usable_cores():
    assert 1 <= blas_threads() <= USABLE


def test_blas_threads_in_a_worker_thread_is_one():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(blas_threads()))
    thread.start()
    thread.join()
    assert seen == [1]


def test_limited_blas_sets_the_limit_and_restores_it():
    before = _counts()
    if not before:
        pytest.skip("threadpoolctl sees no BLAS library")
    with limited_blas(1):
        assert set(_counts()) == {1}
        with limited_blas(USABLE):  # nested: the outer count holds
            assert set(_counts()) == {1}
        assert set(_counts()) == {1}
    assert _counts() == before


def test_limited_blas_holds_for_threads_started_inside():
    if not _counts():
        pytest.skip("threadpoolctl sees no BLAS library")
    seen = []

    def work():
        with limited_blas(USABLE):  # a worker thread changes nothing
            seen.append(_counts())

    with limited_blas(1):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert len(seen) == 1
    assert set(seen[0]) == {1}


def test_dask_task_threads_divides_the_cores_among_the_scheduler_threads():
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="threads", num_workers=USABLE):
        assert dask_task_threads() == 1
    with dask.config.set(scheduler="threads", num_workers=1):
        assert dask_task_threads() == USABLE
    with dask.config.set(scheduler="sync"):
        assert dask_task_threads() == USABLE
