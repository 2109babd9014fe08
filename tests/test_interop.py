"""Interoperability: the itransformer reference, pandas, polars, sklearn composition."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from sklearn_revin import RevINTransformer
from sklearn_revin.nn import RevIN

itransformer = pytest.importorskip("iTransformer")
from iTransformer.revin import RevIN as ReferenceRevIN  # noqa: E402


def _windows(seed, shape=(6, 3, 20)):
    generator = torch.Generator().manual_seed(seed)
    offsets = 20 * torch.randn(shape[0], shape[1], 1, generator=generator)
    scales = 0.5 + torch.rand(shape[0], shape[1], 1, generator=generator)
    return offsets + scales * torch.randn(*shape, generator=generator)


def _reference_with_affine(gamma, beta):
    reference = ReferenceRevIN(len(gamma))
    with torch.no_grad():
        reference.gamma.copy_(torch.tensor(gamma)[:, None])
        reference.beta.copy_(torch.tensor(beta)[:, None])
    return reference


# ------------------------------------------------------ itransformer RevIN


@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_transformer_agrees_with_itransformer_revin(layout):
    """Check forward and reverse against the reference layer, variance > eps."""
    x = _windows(0)
    gamma, beta = [1.5, -0.7, 0.3], [0.1, 0.0, -2.0]
    reference = _reference_with_affine(gamma, beta)
    with torch.no_grad():
        expected, reverse_fn = reference(x)
        forecast = torch.randn(6, 3, 4)
        expected_back = reverse_fn(forecast)
    X = x.numpy() if layout == "3d" else x.numpy().reshape(6, -1)

    revin = RevINTransformer(n_variates=3, gamma=gamma, beta=beta)
    Z = revin.fit_transform(X)
    Y = forecast.numpy() if layout == "3d" else forecast.numpy().reshape(6, -1)
    back = revin.inverse_transform(Y)

    assert_allclose(Z.reshape(expected.shape), expected.numpy(), rtol=1e-5, atol=1e-5)
    assert_allclose(back.reshape(expected_back.shape), expected_back.numpy(), rtol=1e-5)


def test_module_agrees_with_itransformer_revin_and_loads_its_state_dict():
    """Check nn.RevIN loads the reference's state dict and computes the same."""
    x = _windows(1)
    reference = _reference_with_affine([2.0, -1.0, 0.5], [0.3, 0.2, 0.1])
    revin = RevIN(3)
    revin.load_state_dict(reference.state_dict())

    with torch.no_grad():
        expected, expected_reverse, expected_stats = reference(
            x, return_statistics=True
        )
        normalized, reverse_fn, stats = revin(x, return_statistics=True)
        forecast = torch.randn(6, 3, 7)
        back, expected_back = reverse_fn(forecast), expected_reverse(forecast)

    assert_allclose(normalized.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    assert_allclose(back.numpy(), expected_back.numpy(), rtol=1e-5)
    assert stats._fields == expected_stats._fields
    for ours, theirs in zip(stats, expected_stats, strict=True):
        assert ours.shape == theirs.shape
        assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5)


def test_itransformer_revin_loads_module_state_dict():
    """Check the way back: the reference layer loads nn.RevIN's state dict."""
    revin = RevIN(4)
    with torch.no_grad():
        revin.gamma.uniform_(0.5, 2.0)
    reference = ReferenceRevIN(4)
    reference.load_state_dict(revin.state_dict())
    assert torch.equal(reference.gamma, revin.gamma)


def test_module_is_a_drop_in_for_itransformer_models():
    """Check an iTransformer model gives the same forecast with nn.RevIN inside."""
    torch.manual_seed(0)
    model = itransformer.iTransformer(
        num_variates=3,
        lookback_len=16,
        depth=1,
        dim=16,
        pred_length=4,
        use_reversible_instance_norm=True,
        reversible_instance_norm_affine=True,
    ).eval()
    with torch.no_grad():
        model.reversible_instance_norm.gamma.uniform_(0.5, 1.5)
        model.reversible_instance_norm.beta.uniform_(-0.5, 0.5)
    series = _windows(2, shape=(5, 3, 16)).transpose(1, 2)  # (batch, time, variates)
    with torch.no_grad():
        expected = model(series)[4]

        replacement = RevIN(3)
        replacement.load_state_dict(model.reversible_instance_norm.state_dict())
        model.reversible_instance_norm = replacement
        forecast = model(series)[4]

    assert_allclose(forecast.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


def test_itransformer_revin_flaws_are_fixed():
    """Check the reference's flaws on the same data, and that ours are gone.

    The reference's reverse multiplies by the unclamped standard deviation
    (near-constant windows do not come back), divides by sign(0) * eps = 0
    for gamma == 0 (NaN), and lets one NaN turn its window into NaN.
    """
    x = torch.tensor([[[1.0, 1.001, 0.999, 1.0], [1.0, float("nan"), 3.0, 4.0]]])
    reference, ours = ReferenceRevIN(2), RevIN(2)
    with torch.no_grad():
        reference.gamma[1] = 0.0
        ours.gamma[1] = 0.0
        ref_normalized, ref_reverse = reference(x)
        normalized, reverse_fn = ours(x)
        ref_back, back = ref_reverse(ref_normalized), reverse_fn(normalized)

    assert not torch.allclose(ref_back[0, 0], x[0, 0], atol=1e-4)
    assert torch.isnan(ref_back[0, 1]).all()
    assert_allclose(back[0, 0].numpy(), x[0, 0].numpy(), rtol=1e-6)
    assert_allclose(back[0, 1].numpy(), x[0, 1].numpy(), rtol=1e-4, equal_nan=True)


# -------------------------------------------------------- pandas and polars


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_transformer_set_output_dataframes(library):
    """Check set_output(transform=...) returns that library's frame, names kept."""
    frames = pytest.importorskip(library)
    columns = ["co2[t-2]", "co2[t-1]", "co2[t]"]
    data = {name: [1.0 + i, 4.0 * i, 2.0 - i] for i, name in enumerate(columns)}
    X = frames.DataFrame(data)

    revin = RevINTransformer().set_output(transform=library)
    Z = revin.fit_transform(X)

    assert isinstance(Z, frames.DataFrame)
    assert list(Z.columns) == columns
    assert list(revin.feature_names_in_) == columns
    assert_allclose(np.asarray(Z), RevINTransformer().fit_transform(X.to_numpy()))
    assert isinstance(revin.transform(X), frames.DataFrame)


def test_transformer_feature_names_must_match_at_transform():
    """Check scikit-learn's feature-name contract for DataFrame input."""
    pandas = pytest.importorskip("pandas")
    X = pandas.DataFrame({"a": [1.0, 2.0], "b": [3.0, 5.0]})
    revin = RevINTransformer().fit(X)
    with pytest.raises(ValueError, match="feature names"):
        revin.transform(X.rename(columns={"a": "c"}))


# ----------------------------------------------------- scikit-learn composition


def test_transformer_in_pipeline_and_inverse():
    """Check RevIN as a Pipeline step, and Pipeline.inverse_transform."""
    rng = np.random.RandomState(0)
    X = np.cumsum(rng.standard_normal((40, 12)), axis=1) + rng.uniform(-50, 50, (40, 1))
    y = X[:, -1] - X[:, -2]

    pipeline = make_pipeline(RevINTransformer(), Ridge()).fit(X, y)
    revin = pipeline[0]

    assert pipeline.predict(X).shape == (40,)
    assert_allclose(
        make_pipeline(RevINTransformer()).fit(X).inverse_transform(revin.transform(X)),
        X,
    )


def test_transformer_in_column_transformer():
    """Check RevIN on a block of columns inside a ColumnTransformer."""
    rng = np.random.RandomState(1)
    X = np.hstack([rng.standard_normal((10, 6)) * 5 + 3, rng.standard_normal((10, 2))])
    column_transformer = ColumnTransformer(
        [("revin", RevINTransformer(n_variates=2), slice(0, 6))],
        remainder="passthrough",
    )
    Xt = column_transformer.fit_transform(X)
    assert_allclose(Xt[:, :6], RevINTransformer(n_variates=2).fit_transform(X[:, :6]))
    assert_allclose(Xt[:, 6:], X[:, 6:])
