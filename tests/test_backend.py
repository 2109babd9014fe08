"""Tests of the device and conversion logic (private module ``_backend``).

The CUDA pipeline itself runs only on a GPU (tests/test_gpu.py); here its
chunk planner, its chunking on the CPU stand-in and the transformer's dispatch
to it are checked with mocks.
"""

import warnings

import numpy as np
import pytest
import torch
from conftest import strided_views
from hypothesis import given
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_revin import RevINTransformer, _backend, _transformer
from sklearn_revin._backend import (
    array_api_tensors,
    as_tensor_like,
    check_array_namespace,
    empty_like,
    plan_row_chunks,
    resolve_device,
    run_on_device,
    shares_memory,
    stream_rows,
    to_host,
    to_tensor,
    torch_can_view,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_empty_like_gives_numpy_backed_contiguous_cpu_tensor(dtype):
    """Check shape, dtype, contiguity and a writable NumPy view of the result."""
    like = torch.zeros(6, 4).t()  # non-contiguous
    out = empty_like(like.to(dtype))
    assert out.shape == (4, 6)
    assert out.dtype == dtype
    assert out.is_contiguous()
    array = out.numpy()
    array[...] = 1.5
    assert torch.all(out == 1.5)


def test_empty_like_other_dtypes_use_torch():
    """Check that a dtype NumPy lacks still gets an empty tensor."""
    out = empty_like(torch.zeros(3, 2, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16
    assert out.shape == (3, 2)


def test_as_tensor_like_matches_dtype_and_device():
    """Check that parameters take the data's dtype, from NumPy or a tensor."""
    like = torch.zeros(2, dtype=torch.float32)
    converted = as_tensor_like(np.array([1.0, 2.0]), like)
    assert converted.dtype == torch.float32
    assert_allclose(converted.numpy(), [1.0, 2.0])
    from_tensor = as_tensor_like(torch.tensor([3.0], dtype=torch.float64), like)
    assert from_tensor.dtype == torch.float32


def test_resolve_device_auto_keeps_host_data_on_cpu(monkeypatch):
    """Check that "auto" computes NumPy data on the CPU even with CUDA present."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cpu")


def test_resolve_device_auto_follows_the_tensor():
    """Check that "auto" computes a tensor where it lives."""
    tensor = torch.zeros(2, device="meta")
    assert resolve_device("auto", like=tensor) == torch.device("meta")


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_resolve_device_explicit_cpu(device):
    """Check that "cpu" and torch.device("cpu") resolve to the CPU."""
    assert resolve_device(device) == torch.device("cpu")


@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu0", "device must be"), ("cuda:7", "CUDA")],
)
def test_resolve_device_errors(monkeypatch, device, message):
    """Check clear errors for a bad name and for a missing CUDA device."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=message):
        resolve_device(device)


def test_shares_memory():
    """Check memory sharing between tensors and with NumPy arrays."""
    array = np.zeros((3, 4))
    tensor = torch.from_numpy(array)
    assert shares_memory(tensor, array)
    assert shares_memory(tensor[1:], tensor)
    assert not shares_memory(tensor.clone(), array)
    assert not shares_memory(tensor, np.zeros(3))


@given(case=strided_views(ndim=3))
def test_to_tensor_views_any_positive_strides_and_copies_negative_ones(case):
    """Check values, and that only arrays torch cannot view are copied.

    Slices, gaps, transposes and Fortran order are viewed as they are (the
    tensor shares the array's memory); negative strides (reversed views) are
    copied, as torch has no negative strides.
    """
    base, view_of = case
    view = view_of(base)
    tensor = to_tensor(view, torch.device("cpu"))
    assert tensor.shape == view.shape
    assert_array_equal(tensor.numpy(), view)
    viewable = all(stride >= 0 for stride in view.strides)
    assert torch_can_view(view) == viewable
    assert shares_memory(tensor, base) == viewable


@pytest.mark.parametrize(
    "array",
    [
        np.zeros(5, dtype=[("a", "f8"), ("b", "i4")])["a"],  # stride 12, item 8
        np.arange(6.0).astype(">f8"),  # non-native byte order
        np.arange(12.0).reshape(3, 4)[::-1, ::-2],
    ],
    ids=["structured-field", "big-endian", "reversed"],
)
def test_to_tensor_copies_what_torch_cannot_view(array):
    """Check that the arrays torch.from_numpy refuses become equal tensors."""
    assert not torch_can_view(array)
    tensor = to_tensor(array, torch.device("cpu"))
    assert_array_equal(tensor.numpy(), array)
    assert not np.may_share_memory(tensor.numpy(), array)


def test_to_tensor_read_only_reversed_view_stays_unwritten():
    """Check that a read-only reversed view converts silently, without writes."""
    array = np.arange(8.0)
    array.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tensor = to_tensor(array[::-1], torch.device("cpu"))
    assert_array_equal(tensor.numpy(), np.arange(8.0)[::-1])


def test_as_tensor_like_accepts_reversed_values():
    """Check that reversed per-variate values convert on the CPU path."""
    like = torch.zeros(3, dtype=torch.float64)
    values = np.array([1.0, 2.0, 3.0])[::-1]
    assert_array_equal(as_tensor_like(values, like).numpy(), [3.0, 2.0, 1.0])
    meta = torch.zeros(3, device="meta")
    assert as_tensor_like(values, meta).device.type == "meta"


def double(source, out):
    """A row-wise compute for run_on_device: out = 2 * source."""
    return torch.mul(source, 2, out=out) if out is not None else source * 2


@pytest.mark.parametrize("copy", [True, False])
def test_run_on_device_numpy_copy_semantics(copy):
    """Check that copy=True leaves X alone and copy=False writes into X."""
    X = np.arange(12.0).reshape(3, 4)
    original = X.copy()
    result = run_on_device(
        X, X.reshape(3, 1, 4), double, device=torch.device("cpu"), copy=copy
    )
    assert isinstance(result, np.ndarray)
    assert result.shape == X.shape
    assert_allclose(result, 2 * original)
    assert (result is X) == (not copy)
    assert_allclose(X, original if copy else 2 * original)


@given(case=strided_views())
def test_run_on_device_copy_semantics_hold_for_any_strides(case):
    """Check copy=True/False on strided views of a larger array.

    copy=False returns the view itself holding the result, and writes nowhere
    else in the base array, whether the view is computed in place (torch views
    it) or in a copy written back (negative strides, or a layout that cannot
    be viewed as windows); copy=True writes nowhere.
    """
    base, view_of = case
    original = base.copy()
    for copy in (True, False):
        view = view_of(base)
        windows = view.reshape(view.shape[0], 1, -1)
        result = run_on_device(
            view, windows, double, device=torch.device("cpu"), copy=copy
        )
        assert_array_equal(result, 2 * view_of(original))
        assert (result is view) == (not copy)
    expected = original.copy()
    view_of(expected)[...] *= 2
    assert_array_equal(base, expected)


@pytest.mark.parametrize("copy", [True, False])
def test_run_on_device_streaming_writes_back_into_unviewable_x(monkeypatch, copy):
    """Check the NumPy-through-CUDA path with X that its windows do not view.

    run_on_device takes windows that are not a view of X (a layout that
    cannot be reshaped without a copy): with copy=False the streamed result
    must still land in X. The pipeline runs on its CPU stand-in.
    """

    def fake_stream_rows(compute, source, out, device, **kwargs):
        stream_rows(compute, source, out, torch.device("cpu"), rows_per_chunk=2)

    monkeypatch.setattr(_backend, "stream_rows", fake_stream_rows)
    X = np.arange(24.0).reshape(6, 4)
    windows = X.reshape(6, 2, 2).copy()
    result = run_on_device(
        X, windows, double, device=torch.device("cuda"), copy=copy, row_chunks=True
    )
    assert_array_equal(result, 2 * np.arange(24.0).reshape(6, 4))
    assert (result is X) == (not copy)
    assert_array_equal(X, np.arange(24.0).reshape(6, 4) * (1 if copy else 2))


@pytest.mark.parametrize("copy", [True, False])
def test_run_on_device_tensor_in_tensor_out(copy):
    """Check that a tensor comes back as a tensor, in place with copy=False."""
    X = torch.arange(12.0).reshape(3, 4)
    result = run_on_device(
        X, X.reshape(3, 1, 4), double, device=torch.device("cpu"), copy=copy
    )
    assert isinstance(result, torch.Tensor)
    assert (result is X) == (not copy)
    assert_allclose(result.numpy(), 2 * np.arange(12.0).reshape(3, 4))


def test_run_on_device_statistics_only_returns_none():
    """Check writes=False: compute gets out=None and nothing is returned."""
    calls = []
    X = np.ones((2, 3))
    result = run_on_device(
        X,
        X.reshape(2, 1, 3),
        lambda source, out: calls.append(out),
        device=torch.device("cpu"),
        copy=True,
        writes=False,
    )
    assert result is None
    assert calls == [None]


@pytest.mark.parametrize(
    ("n_rows", "row_bytes", "free_bytes", "kwargs", "expected"),
    [
        (1000, 1024, 2**34, {}, 1000),  # fits in one chunk
        (10**6, 1024, 2**34, {}, 65536),  # 64 MiB chunks
        (10**6, 1024, 2**20, {}, 256),  # half of 1 MiB over two buffers
        (10, 2**30, 2**20, {}, 1),  # a row larger than the budget: one row
        (0, 1024, 2**30, {}, 0),
        (100, 10, 10**6, {"chunk_bytes": 100}, 10),
        (100, 10, 400, {"buffers": 4, "headroom": 1.0}, 10),
    ],
)
def test_plan_row_chunks(n_rows, row_bytes, free_bytes, kwargs, expected):
    """Check chunk sizes for small, large and larger-than-device inputs."""
    assert plan_row_chunks(n_rows, row_bytes, free_bytes=free_bytes, **kwargs) == (
        expected
    )


def revin_compute(statistics):
    """A compute that normalizes in place and records each chunk's means."""

    def compute(source, out):
        result, stats = _backend_normalize(source, out)
        statistics.append(stats.loc)
        return result

    return compute


def _backend_normalize(source, out):
    from sklearn_revin._functional import normalize_windows

    ones = torch.ones(source.shape[1], dtype=source.dtype)
    return normalize_windows(source, ones, ones * 0, eps=1e-5, out=out)


@pytest.mark.parametrize("rows_per_chunk", [1, 3, 4, 10, 25])
@pytest.mark.parametrize("in_place", [False, True])
def test_stream_rows_on_cpu_stand_in_matches_one_pass(rows_per_chunk, in_place):
    """Check chunking, the last partial chunk and in-place output on the CPU."""
    rng = np.random.RandomState(0)
    source = rng.normal(size=(10, 2, 5)) * 3 + 7
    expected, expected_stats = _backend_normalize(torch.from_numpy(source.copy()), None)
    source_copy = source.copy()
    out = source_copy if in_place else np.full_like(source, np.nan)
    means = []
    stream_rows(
        revin_compute(means),
        source_copy,
        out,
        torch.device("cpu"),
        rows_per_chunk=rows_per_chunk,
    )
    assert len(means) == -(-10 // rows_per_chunk)
    assert_allclose(out, expected.numpy(), rtol=1e-12, atol=1e-12)
    assert_allclose(torch.cat(means).numpy(), expected_stats.loc.numpy())
    if not in_place:
        assert_allclose(source_copy, source)


def test_stream_rows_statistics_only_on_cpu_stand_in():
    """Check out=None: compute gets no out and sees every row once."""
    seen = []
    source = np.arange(24.0).reshape(6, 1, 4)
    stream_rows(
        lambda chunk, out: seen.append((chunk.clone(), out)),
        source,
        None,
        torch.device("cpu"),
        rows_per_chunk=4,
    )
    assert [out for _, out in seen] == [None, None]
    assert_allclose(torch.cat([chunk for chunk, _ in seen]).numpy(), source)


@pytest.mark.parametrize("copy", [True, False])
def test_transformer_streams_numpy_through_cuda_in_chunks(monkeypatch, copy):
    """Check the transformer's NumPy-on-CUDA path, with the CUDA parts mocked.

    resolve_device answers "cuda" and the pipeline runs on its CPU stand-in
    with 7-row chunks: the output and the fitted statistics must equal those
    of the CPU path.
    """
    calls = []

    def fake_stream_rows(compute, source, out, device, **kwargs):
        calls.append(device)
        stream_rows(compute, source, out, torch.device("cpu"), rows_per_chunk=7)

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 12)) * 5 + 40
    expected = RevINTransformer(n_variates=2, device="cpu").fit(X)
    expected_Z = expected.transform(X)
    monkeypatch.setattr(_backend, "stream_rows", fake_stream_rows)
    monkeypatch.setattr(
        _transformer, "resolve_device", lambda *args, **kwargs: torch.device("cuda")
    )
    revin = RevINTransformer(n_variates=2, device="cuda", copy=copy)
    X_in = X.copy()
    Z = revin.fit_transform(X_in)
    assert calls
    assert all(device.type == "cuda" for device in calls)
    assert (Z is X_in) == (not copy)
    assert_allclose(Z, expected_Z, rtol=1e-12, atol=1e-12)
    assert_allclose(revin.mean_, expected.mean_)
    assert_allclose(revin.scale_, expected.scale_)
    revin.fit(X)  # statistics only, streamed too
    assert_allclose(revin.mean_, expected.mean_)


def test_array_api_helpers_without_dispatch_leave_everything_to_numpy():
    """Check that with dispatch off tensors are not special and nothing is refused.

    The behaviour under dispatch is tested in test_array_api.py, in an
    interpreter with SCIPY_ARRAY_API=1, which scikit-learn needs to enable it.
    """
    strict = pytest.importorskip("array_api_strict")
    arrays = (torch.zeros(2), np.zeros(2), strict.asarray([1.0]), [1.0])
    assert not array_api_tensors(*arrays, estimator="RevINRegressor")
    check_array_namespace(*arrays, estimator="RevINRegressor")
    assert isinstance(to_host(torch.ones(2, requires_grad=True)), np.ndarray)
    assert to_host(arrays[2]) is arrays[2]
