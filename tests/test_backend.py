"""Tests of the device and conversion logic (private module ``_backend``).

The CUDA pipeline itself runs only on a GPU (tests/test_gpu.py); here its
chunk planner, its chunking on the CPU stand-in and the transformer's dispatch
to it are checked with mocks.
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from sklearn_revin import RevINTransformer, _backend, _transformer
from sklearn_revin._backend import (
    as_tensor_like,
    empty_like,
    plan_row_chunks,
    resolve_device,
    run_on_device,
    shares_memory,
    stream_rows,
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
