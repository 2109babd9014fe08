"""Behaviour of sklearn_revin.nn.RevIN, the torch module."""

import numpy as np
import pytest
import torch
from conftest import numpy_revin
from numpy.testing import assert_allclose

from sklearn_revin import RevINTransformer
from sklearn_revin.nn import RevIN, Statistics


def _windows(seed, shape=(4, 3, 16), dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    offsets = 50 * torch.randn(shape[0], shape[1], 1, generator=generator)
    return (offsets + 3 * torch.randn(*shape, generator=generator)).to(dtype)


def test_revin_module_parameters_have_reference_names_and_shapes():
    """Check gamma and beta: shape (num_variates, 1), initialized to 1 and 0."""
    revin = RevIN(5)
    assert set(revin.state_dict()) == {"gamma", "beta"}
    assert revin.gamma.shape == revin.beta.shape == (5, 1)
    assert torch.equal(revin.gamma, torch.ones(5, 1))
    assert torch.equal(revin.beta, torch.zeros(5, 1))
    assert revin.gamma.requires_grad
    assert revin.beta.requires_grad


def test_revin_module_not_affine_freezes_parameters():
    """Check that affine=False keeps the parameters but does not train them."""
    revin = RevIN(2, affine=False)
    assert not revin.gamma.requires_grad
    assert not revin.beta.requires_grad


def test_revin_module_factory_kwargs_and_reset_parameters():
    """Check device/dtype of the parameters and that reset_parameters restores them."""
    revin = RevIN(3, dtype=torch.float64, device="cpu")
    assert revin.gamma.dtype == torch.float64
    with torch.no_grad():
        revin.gamma.fill_(7.0)
    revin.reset_parameters()
    assert torch.equal(revin.gamma, torch.ones(3, 1, dtype=torch.float64))


def test_revin_module_repr():
    """Check extra_repr shows the settings."""
    assert repr(RevIN(3, eps=1e-3)) == "RevIN(3, affine=True, eps=0.001)"


def test_revin_module_matches_numpy_formula():
    """Check forward against the plain NumPy formula, with an affine."""
    x = _windows(0)
    revin = RevIN(3).double()
    gamma, beta = np.array([1.5, -0.7, 0.3]), np.array([0.1, 0.0, -2.0])
    with torch.no_grad():
        revin.gamma.copy_(torch.from_numpy(gamma)[:, None])
        revin.beta.copy_(torch.from_numpy(beta)[:, None])

    normalized, reverse_fn = revin(x)

    expected, _, _ = numpy_revin(x.numpy(), gamma, beta)
    assert_allclose(normalized.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    assert_allclose(reverse_fn(normalized).detach().numpy(), x.numpy(), rtol=1e-12)


def test_revin_module_equals_transformer():
    """Check that the module and the transformer give the same numbers."""
    x = _windows(1, dtype=torch.float32)
    gamma, beta = [2.0, -1.0, 0.5], [0.0, 1.0, 2.0]
    revin = RevIN(3)
    with torch.no_grad():
        revin.gamma.copy_(torch.tensor(gamma)[:, None])
        revin.beta.copy_(torch.tensor(beta)[:, None])

    normalized, _ = revin(x)
    Z = RevINTransformer(gamma=gamma, beta=beta).fit_transform(x.numpy())

    assert_allclose(normalized.detach().numpy(), Z, rtol=1e-6, atol=1e-6)


def test_revin_module_reverse_of_another_horizon():
    """Check that reverse_fn maps an output of another length with x's statistics."""
    x = _windows(2)
    revin = RevIN(3).double()
    _, reverse_fn, stats = revin(x, return_statistics=True)
    forecast = torch.randn(4, 3, 5, dtype=torch.float64)

    back = reverse_fn(forecast).detach()

    scale = stats.variance.clamp(min=1e-5).sqrt()
    assert_allclose(back.numpy(), (forecast * scale + stats.mean).numpy())


def test_revin_module_statistics_are_named_and_shaped_as_reference():
    """Check Statistics(mean, variance, gamma, beta) with keepdim shapes."""
    x = _windows(3)
    revin = RevIN(3).double()
    _, _, stats = revin(x, return_statistics=True)
    assert isinstance(stats, Statistics)
    assert stats.mean.shape == stats.variance.shape == (4, 3, 1)
    assert stats.gamma is revin.gamma
    assert stats.beta is revin.beta
    assert_allclose(stats.variance.numpy()[..., 0], x.numpy().var(axis=-1))


def test_revin_module_constant_window_reverse_is_exact():
    """Check the reverse of windows with variance below eps (a reference flaw)."""
    x = torch.tensor([[[3.0, 3.0, 3.0, 3.0], [1.0, 1.0001, 0.9999, 1.0]]])
    normalized, reverse_fn = RevIN(2)(x)
    assert_allclose(reverse_fn(normalized).detach().numpy(), x.numpy(), rtol=1e-6)


def test_revin_module_zero_gamma_gives_no_nan():
    """Check that gamma == 0 is used as +eps, so reverse_fn stays finite."""
    x = _windows(4, dtype=torch.float32)
    revin = RevIN(3)
    with torch.no_grad():
        revin.gamma.zero_()
    normalized, reverse_fn = revin(x)
    back = reverse_fn(normalized)
    assert torch.isfinite(back).all()
    assert_allclose(back.detach().numpy(), x.numpy(), rtol=1e-4, atol=1e-2)


def test_revin_module_nan_does_not_spread():
    """Check that a NaN stays in place and its window's other values normalize."""
    x = torch.tensor([[[1.0, float("nan"), 3.0, 5.0], [1.0, 2.0, 3.0, 4.0]]])
    normalized, reverse_fn = RevIN(2)(x)
    assert torch.isnan(normalized[0, 0, 1])
    assert torch.isfinite(normalized[0, 0, [0, 2, 3]]).all()
    assert torch.isfinite(normalized[0, 1]).all()
    back = reverse_fn(normalized)
    assert_allclose(back.detach().numpy(), x.numpy(), rtol=1e-6, equal_nan=True)


def test_revin_module_gradients_flow():
    """Check analytic gradients w.r.t. x, gamma and beta with gradcheck."""
    horizon = torch.randn(2, 2, 3, dtype=torch.float64)

    class RoundTrip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.revin = RevIN(2).double()

        def forward(self, x):
            normalized, reverse_fn = self.revin(x)
            return normalized, reverse_fn(horizon)

    model = RoundTrip()

    def round_trip(x, gamma, beta):
        parameters = {"revin.gamma": gamma, "revin.beta": beta}
        return torch.func.functional_call(model, parameters, (x,))

    x = _windows(5, shape=(2, 2, 6)).requires_grad_()
    gamma = torch.tensor([[1.5], [-0.5]], dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([[0.2], [-0.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(round_trip, (x, gamma, beta))


def test_revin_module_trains_its_parameters():
    """Check that a loss on the reversed output updates gamma and beta."""
    revin = RevIN(3)
    x = _windows(6, dtype=torch.float32)
    normalized, reverse_fn = revin(x)
    loss = (reverse_fn(normalized * 0.9 + 0.1) - x).square().mean()
    loss.backward()
    assert revin.gamma.grad is not None
    assert revin.gamma.grad.abs().sum() > 0
    assert revin.beta.grad is not None
    assert revin.beta.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(4, 2, 5), (4, 5), (5,)])
def test_revin_module_wrong_input_shape_is_an_error(shape):
    """Check that input whose variate axis does not match is refused."""
    with pytest.raises(ValueError, match=r"Expected input of shape \(batch, 3, time\)"):
        RevIN(3)(torch.zeros(shape))


def test_revin_add_std_matches_tsai_and_reverses_exactly():
    """Check eps_mode="add_std" scales by std + eps, as tsai, with an exact reverse."""
    rng = np.random.RandomState(0)
    x = torch.from_numpy(5.0 + rng.normal(size=(4, 3, 10)) * [[[1e-6], [1.0], [3.0]]])
    module = RevIN(3, eps_mode="add_std", dtype=torch.float64)
    with torch.no_grad():
        module.gamma.copy_(torch.tensor([[2.0], [-0.5], [1.5]]))
        module.beta.copy_(torch.tensor([[0.1], [0.0], [-1.0]]))

    normalized, reverse_fn = module(x)

    std = x.std(dim=-1, keepdim=True, unbiased=False) + 1e-5  # tsai's RevIN
    expected = (x - x.mean(dim=-1, keepdim=True)) / std * module.gamma + module.beta
    # The two means differ by ulps of 5; over a scale of ~1e-5 that is ~1e-10.
    assert torch.allclose(normalized, expected, rtol=1e-10, atol=1e-8)
    assert torch.allclose(reverse_fn(normalized), x, rtol=1e-12, atol=1e-12)
    assert "eps_mode='add_std'" in repr(module)
