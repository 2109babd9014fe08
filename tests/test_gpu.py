"""Correctness on a CUDA device; every test is skipped where CUDA is missing.

Run on a GPU machine with ``python -m pytest tests/test_gpu.py -m gpu``.
"""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from sklearn_revin import RevINTransformer, _backend
from sklearn_revin._functional import normalize_windows

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def reference(windows, gamma, beta, eps=1e-5):
    """Plain NumPy RevIN in float64: NaN ignored, scale sqrt(max(var, eps))."""
    x = np.asarray(windows, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(x, axis=-1, keepdims=True)
        variance = np.nanvar(x, axis=-1, keepdims=True)
    gamma = np.asarray(gamma, dtype=np.float64)[:, None]
    beta = np.asarray(beta, dtype=np.float64)[:, None]
    return (x - mean) / np.sqrt(np.maximum(variance, eps)) * gamma + beta


def mixed_windows(rng, n_instances, n_variates, n_steps):
    x = rng.normal(size=(n_instances, n_variates, n_steps)) * 3 + 50
    x[1, 0] = 4.0  # constant
    x[2, -1] = 9.0 + 1e-4 * rng.normal(size=n_steps)  # variance below eps
    x[3, 0, ::4] = np.nan
    x[4, -1] = np.nan  # all NaN
    return x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_variates", [1, 3])
def test_gpu_normalize_windows_matches_numpy_formula(dtype, n_variates):
    """Check the fused CUDA path on constant, NaN and all-NaN windows."""
    rng = np.random.RandomState(0)
    x = mixed_windows(rng, 64, n_variates, 96)
    gamma = rng.uniform(0.5, 2, size=n_variates)
    beta = rng.normal(size=n_variates)
    out, stats = normalize_windows(
        torch.from_numpy(x).to("cuda", dtype),
        torch.from_numpy(gamma).to("cuda", dtype),
        torch.from_numpy(beta).to("cuda", dtype),
        eps=1e-5,
    )
    assert out.is_cuda
    assert stats.loc.is_cuda
    tolerance = 1e-4 if dtype == torch.float32 else 1e-10
    expected = reference(
        x.astype(np.float32) if dtype == torch.float32 else x, gamma, beta
    )
    assert_allclose(
        out.cpu().double().numpy(), expected, rtol=tolerance, atol=tolerance
    )


def test_gpu_float32_large_offset_is_accurate():
    """Check float32 windows around 1e4 with std 0.1 on the GPU against float64."""
    rng = np.random.RandomState(0)
    x = (1e4 + 0.1 * rng.normal(size=(512, 1, 256))).astype(np.float32)
    revin = RevINTransformer()
    Z = revin.fit_transform(torch.from_numpy(x).cuda())
    expected = reference(x, [1.0], [0.0])
    assert np.abs(Z.cpu().numpy() - expected).max() < 1e-2


@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_gpu_tensor_matches_cpu_and_stays_on_device(layout):
    """Check that CUDA tensors give the CPU result, on the device, both ways."""
    rng = np.random.RandomState(1)
    X = rng.normal(size=(200, 2, 48)) * 4 + 20
    if layout == "2d":
        X = X.reshape(200, 96)
    params = {"n_variates": 2, "gamma": [1.5, -0.5], "beta": [0.2, 0.0]}
    cpu = RevINTransformer(device="cpu", **params)
    expected = cpu.fit_transform(X)
    gpu = RevINTransformer(**params)  # "auto": a CUDA tensor is computed there
    Z = gpu.fit_transform(torch.from_numpy(X).cuda())
    assert Z.is_cuda
    assert_allclose(Z.cpu().numpy(), expected, rtol=1e-10, atol=1e-10)
    assert_allclose(gpu.mean_, cpu.mean_, rtol=1e-12)
    assert_allclose(gpu.scale_, cpu.scale_, rtol=1e-10)
    back = gpu.inverse_transform(Z)
    assert back.is_cuda
    assert_allclose(back.cpu().numpy(), X, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("copy", [True, False])
def test_gpu_numpy_input_streamed_in_chunks_matches_cpu(monkeypatch, copy):
    """Check NumPy input with device="cuda", in many pinned chunks, in place too."""
    monkeypatch.setattr(_backend, "CHUNK_BYTES", 4096)  # 8 rows per chunk
    rng = np.random.RandomState(2)
    X = rng.normal(size=(100, 128)).astype(np.float32) * 2 + 7
    X[5, 3] = np.nan
    expected = RevINTransformer(device="cpu").fit(X)
    expected_Z = expected.transform(X)
    revin = RevINTransformer(device="cuda", copy=copy)
    X_in = X.copy()
    Z = revin.fit_transform(X_in)
    assert isinstance(Z, np.ndarray)
    assert (Z is X_in) == (not copy)
    assert_allclose(Z, expected_Z, rtol=1e-5, atol=1e-5)
    assert_allclose(revin.mean_, expected.mean_, rtol=1e-6)
    assert_allclose(revin.scale_, expected.scale_, rtol=1e-5)
    assert_allclose(revin.inverse_transform(Z), X, rtol=1e-4, atol=1e-4)


def test_gpu_infinity_is_an_error():
    """Check that +/-inf on the device raises the same ValueError."""
    X = torch.randn(16, 32, device="cuda")
    X[7, 3] = float("inf")
    with pytest.raises(ValueError, match="infinity"):
        RevINTransformer().fit_transform(X)


@pytest.mark.parametrize(
    "window",
    [[-1e19, 1e19, -1e19, 1e19], [3e38, 3e38, 3.1e38, 3e38]],
)
def test_gpu_overflowing_statistics_are_an_error(window):
    """Check that the fused path sends overflowing windows to the error."""
    X = torch.tensor([[1.0, 2.0, 3.0, 4.0], window], device="cuda")
    with pytest.raises(ValueError, match="overflow"):
        RevINTransformer().fit_transform(X)


def test_gpu_module_trains_through_nan():
    """Check nn.RevIN on CUDA: finite gradients with a NaN hole, NaN kept."""
    from sklearn_revin.nn import RevIN

    revin = RevIN(2).cuda()
    x = torch.randn(4, 2, 32, device="cuda") * 3 + 1e4
    x[0, 1, 5] = float("nan")
    x[1, 0] = float("nan")
    normalized, reverse_fn = revin(x)
    back = reverse_fn(torch.ones(4, 2, 8, device="cuda"))
    loss = sum(out[~out.isnan()].square().sum() for out in (normalized, back))
    loss.backward()
    assert torch.isfinite(revin.gamma.grad).all()
    assert torch.isfinite(revin.beta.grad).all()
    assert torch.isnan(normalized[0, 1, 5])
