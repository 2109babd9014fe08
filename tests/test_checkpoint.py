"""Learned gamma and beta from trained checkpoints: finding, loading, exporting.

The state dicts below are built in the tests with the names and shapes of the
projects that use RevIN; each builder names the project and the file it
follows. The reference formulas are transcribed from those files, in their
(batch, time, channels) layout, and never call this package.
"""

import importlib
import io
import json
import os
import pickle
import re
import stat
import subprocess
import sys
import tracemalloc
import types
import warnings
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from iTransformer import iTransformer, iTransformer2D, iTransformerFFT
from iTransformer.revin import RevIN as ReferenceRevIN
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_revin import RevINTransformer
from sklearn_revin.nn import RevIN

EPS = 1e-5

# ------------------------------------------------------ the projects' formulas


def original_revin(x, affine_weight, affine_bias, eps=EPS, subtract_last=False):
    """RevIN as ts-kim/RevIN RevIN.py computes it, on (batch, time, channels).

    yuqinie98/PatchTST PatchTST_supervised/layers/RevIN.py and
    thuml/Time-Series-Library layers/StandardNorm.py (Normalize) add
    ``subtract_last``; unit8co/darts darts/models/components/
    layer_norm_variants.py (RINorm) is the same without it. Returns the
    normalized windows and the ``denorm`` function (``_denormalize``).
    """
    mean = x.mean(axis=1, keepdims=True)
    stdev = np.sqrt(x.var(axis=1, keepdims=True) + eps)  # unbiased=False
    center = x[:, -1:, :] if subtract_last else mean  # x[:, -1, :].unsqueeze(1)
    normalized = (x - center) / stdev * affine_weight + affine_bias

    def denormalize(y):
        y = (y - affine_bias) / (affine_weight + eps * eps)
        return y * stdev + center

    return normalized, denormalize


def neuralforecast_revin_multivariate(x, affine_weight, affine_bias, eps=EPS):
    """RevINMultivariate of Nixtla/neuralforecast neuralforecast/common/_modules.py.

    ``affine_weight`` and ``affine_bias`` have shape (1, 1, channels).
    """
    batch_mean = x.mean(axis=1, keepdims=True)
    batch_std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    normalized = (x - batch_mean) / batch_std * affine_weight + affine_bias

    def denormalize(y):
        return (y - affine_bias) / affine_weight * batch_std + batch_mean

    return normalized, denormalize


def _btc(windows):
    """(n_instances, n_variates, n_steps) <-> (batch, time, channels)."""
    return windows.transpose(0, 2, 1)


# ------------------------------------------------------------------- windows


def _windows(rng, n_instances=6, n_variates=3, n_steps=12, small=False):
    """Windows with an offset; ``small`` gives variances between 1e-9 and 1e-5.

    There ``sqrt(var + eps)`` and ``sqrt(max(var, eps))`` differ by up to 40%
    for eps=1e-5, so a test on them tells the two eps modes apart.
    """
    offsets = rng.uniform(-50, 50, size=(n_instances, n_variates, 1))
    if small:
        scales = 10 ** rng.uniform(-4.5, -2.6, size=(n_instances, n_variates, 1))
    else:
        scales = rng.uniform(0.5, 5, size=(n_instances, n_variates, 1))
    return offsets + scales * rng.standard_normal((n_instances, n_variates, n_steps))


def _affine(rng, n_variates, dtype=torch.float32):
    weight = torch.tensor(rng.uniform(0.5, 2.0, n_variates), dtype=dtype)
    weight[0] = -weight[0]  # a negative gamma is learnable and must survive
    bias = torch.tensor(rng.uniform(-1.0, 1.0, n_variates), dtype=dtype)
    return weight, bias


# ------------------------------------------------ state dicts of the projects


def _itransformer_model(rng, n_variates=3, lookback=12, cls=iTransformer):
    """A real iTransformer model with non-trivial RevIN gamma and beta."""
    kwargs = {"num_time_tokens": 2} if cls is iTransformer2D else {}
    model = cls(
        num_variates=n_variates,
        lookback_len=lookback,
        depth=1,
        dim=8,
        pred_length=4,
        use_reversible_instance_norm=True,
        reversible_instance_norm_affine=True,
        **kwargs,
    )
    weight, bias = _affine(rng, n_variates)
    with torch.no_grad():
        model.reversible_instance_norm.gamma.copy_(weight.unsqueeze(-1))
        model.reversible_instance_norm.beta.copy_(bias.unsqueeze(-1))
    return model


def _patchtst_state_dict(weight, bias, decomposition=False):
    """yuqinie98/PatchTST PatchTST_supervised/models/PatchTST.py.

    ``Model`` holds ``self.model = PatchTST_backbone(...)``, or
    ``model_trend`` and ``model_res`` with ``decomposition=True``;
    layers/PatchTST_backbone.py holds ``self.revin_layer = RevIN(c_in, ...)``,
    a ``TSTiEncoder`` as ``backbone`` and a ``Flatten_Head`` as ``head``.
    """
    parts = ("model_trend", "model_res") if decomposition else ("model",)
    state_dict = {}
    for part in parts:
        state_dict |= {
            f"{part}.revin_layer.affine_weight": weight.clone(),
            f"{part}.revin_layer.affine_bias": bias.clone(),
            f"{part}.backbone.W_P.weight": torch.randn(16, 4),
            f"{part}.backbone.W_P.bias": torch.randn(16),
            f"{part}.backbone.W_pos": torch.randn(5, 16),
            f"{part}.backbone.encoder.layers.0.norm_attn.1.weight": torch.ones(16),
            f"{part}.backbone.encoder.layers.0.norm_attn.1.bias": torch.zeros(16),
            f"{part}.backbone.encoder.layers.0.norm_attn.1.running_mean": torch.zeros(
                16
            ),
            f"{part}.backbone.encoder.layers.0.norm_attn.1.num_batches_tracked": (
                torch.tensor(7)
            ),
            f"{part}.head.linear.weight": torch.randn(4, 80),
            f"{part}.head.linear.bias": torch.randn(4),
        }
    return state_dict


def _timemixer_state_dict(weight, bias, n_scales=1):
    """thuml/Time-Series-Library models/TimeMixer.py.

    ``self.normalize_layers = ModuleList([Normalize(enc_in, affine=True, ...)
    for i in range(down_sampling_layers + 1)])``, Normalize from
    layers/StandardNorm.py: one RevIN per scale.
    """
    state_dict = {
        "enc_embedding.value_embedding.tokenConv.weight": torch.randn(16, 1, 3),
        "pdm_blocks.0.cross_layer.0.weight": torch.randn(32, 16),
        "predict_layers.0.weight": torch.randn(4, 12),
        "projection_layer.weight": torch.randn(1, 16),
    }
    for scale in range(n_scales):
        state_dict[f"normalize_layers.{scale}.affine_weight"] = weight.clone()
        state_dict[f"normalize_layers.{scale}.affine_bias"] = bias.clone()
    return state_dict


def _darts_checkpoint(weight, bias):
    """A unit8co/darts Lightning checkpoint of a model with RIN.

    darts/models/forecasting/pl_forecasting_module.py holds ``self.rin =
    RINorm(input_dim=self.n_targets)`` (darts/models/components/
    layer_norm_variants.py), one layer over the target components: darts
    normalizes no covariates.
    """
    state_dict = {
        "rin.affine_weight": weight.clone(),
        "rin.affine_bias": bias.clone(),
        "encoders.0.dense.0.weight": torch.randn(16, 12),
        "decoders.0.dense.0.weight": torch.randn(8, 16),
    }
    return _lightning(state_dict)


def _tsmixer_checkpoint(weight, bias):
    """A Nixtla/neuralforecast TSMixer Lightning checkpoint.

    neuralforecast/models/tsmixer.py: ``self.norm =
    RevINMultivariate(num_features=n_series, affine=True)``, whose parameters
    have shape (1, 1, n_series) (neuralforecast/common/_modules.py).
    """
    return _lightning(
        {
            "norm.affine_weight": weight.clone().reshape(1, 1, -1),
            "norm.affine_bias": bias.clone().reshape(1, 1, -1),
            "mixing_layers.0.temporal_mixer.temporal_norm.weight": torch.ones(36),
            "mixing_layers.0.temporal_mixer.temporal_lin.weight": torch.randn(12, 12),
            "out.weight": torch.randn(4, 12),
        }
    )


def _temporal_norm_state_dict(n_variates):
    """Nixtla/neuralforecast neuralforecast/common/_scalers.py TemporalNorm.

    The windows models (common/_base_model.py) hold ``self.scaler =
    TemporalNorm(scaler_type, dim=1, num_features=...)``; with
    ``scaler_type="revin"`` its parameters have shape (1, 1, C, 1).
    """
    return {
        "scaler.revin_bias": torch.zeros(1, 1, n_variates, 1),
        "scaler.revin_weight": torch.ones(1, 1, n_variates, 1),
        "mlp.0.weight": torch.randn(8, 12),
    }


def _lightning(state_dict):
    """The layout of a PyTorch Lightning ``.ckpt`` (plain hyper-parameters)."""
    return {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": state_dict,
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 3}}}},
        "callbacks": {},
        "optimizer_states": [
            {
                "state": {0: {"step": torch.tensor(120.0), "exp_avg": torch.ones(3)}},
                "param_groups": [{"lr": 1e-3, "params": [0]}],
            }
        ],
        "lr_schedulers": [],
        "hyper_parameters": {"input_chunk_length": 12, "lr": 1e-3},
    }


# ------------------------------------------------------------ naming table


def test_checkpoint_itransformer_file_matches_model_revin(tmp_path):
    """Check transform and inverse against the real itransformer model's RevIN."""
    rng = np.random.RandomState(0)
    model = _itransformer_model(rng)
    path = tmp_path / "itransformer.pt"
    torch.save(model.state_dict(), path)
    X = _windows(rng).astype(np.float32)
    Y = rng.standard_normal((X.shape[0], 3, 4)).astype(np.float32)

    revin = RevINTransformer(checkpoint=path).fit(X)
    with torch.no_grad():
        normalized, reverse_fn = model.reversible_instance_norm(torch.from_numpy(X))
        restored = reverse_fn(torch.from_numpy(Y))

    assert revin.checkpoint_key_ == "reversible_instance_norm"
    assert revin.eps_mode_ == "clamp"
    assert_array_equal(
        revin.gamma_, model.reversible_instance_norm.gamma.detach().double()[:, 0]
    )
    assert_allclose(revin.transform(X), normalized.numpy(), rtol=1e-5, atol=1e-5)
    assert_allclose(revin.inverse_transform(Y), restored.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("cls", [iTransformer, iTransformer2D, iTransformerFFT])
def test_checkpoint_itransformer_models_and_module_source(cls):
    """Check each itransformer model class, passed as a module, is read."""
    rng = np.random.RandomState(1)
    model = _itransformer_model(rng, cls=cls)
    X = _windows(rng).astype(np.float32)

    revin = RevINTransformer(checkpoint=model).fit(X)
    with torch.no_grad():
        normalized, _ = model.reversible_instance_norm(torch.from_numpy(X))

    assert_allclose(revin.transform(X), normalized.numpy(), rtol=1e-5, atol=1e-5)


def test_checkpoint_sklearn_revin_module_in_a_model():
    """Check a model holding this package's nn.RevIN is read like the reference."""
    rng = np.random.RandomState(2)
    layer = RevIN(3)
    weight, bias = _affine(rng, 3)
    with torch.no_grad():
        layer.gamma.copy_(weight.unsqueeze(-1))
        layer.beta.copy_(bias.unsqueeze(-1))
    model = torch.nn.Sequential(layer, torch.nn.Linear(12, 4))
    X = _windows(rng)

    revin = RevINTransformer(checkpoint=model.state_dict()).fit(X)

    assert revin.checkpoint_key_ == "0"
    assert revin.eps_mode_ == "clamp"
    assert_array_equal(revin.gamma_, weight.double().numpy())
    assert_array_equal(revin.beta_, bias.double().numpy())


_AFFINE_SOURCES = {
    # name: (builder of the checkpoint from weight and bias, layer key)
    "ts-kim RevIN": (
        lambda w, b: {"affine_weight": w.clone(), "affine_bias": b.clone()},
        "",
    ),
    "PatchTST": (_patchtst_state_dict, "model.revin_layer"),
    "Time-Series-Library Normalize": (_timemixer_state_dict, "normalize_layers.0"),
    "darts RINorm": (_darts_checkpoint, "rin"),
}


@pytest.mark.parametrize("source", list(_AFFINE_SOURCES))
@pytest.mark.parametrize("small", [False, True])
def test_checkpoint_affine_family_matches_project_formula(source, small):
    """Check the affine_weight family against the original RevIN formula."""
    rng = np.random.RandomState(3)
    build, key = _AFFINE_SOURCES[source]
    weight, bias = _affine(rng, 3)
    X = _windows(rng, small=small)
    Y = rng.standard_normal((X.shape[0], 3, 5))
    w, b = weight.double().numpy(), bias.double().numpy()
    expected, denormalize = original_revin(_btc(X), w, b)

    revin = RevINTransformer(checkpoint=build(weight, bias)).fit(X)

    assert revin.checkpoint_key_ == key
    assert revin.eps_mode_ == "add"
    assert_allclose(revin.transform(X), _btc(expected), rtol=1e-9, atol=1e-9)
    # The original divides by affine_weight + eps**2 on the way back; this
    # package keeps its exact inverse: a relative eps**2 / w apart.
    assert_allclose(
        revin.inverse_transform(Y), _btc(denormalize(_btc(Y))), rtol=1e-8, atol=1e-9
    )
    assert_allclose(revin.inverse_transform(revin.transform(X)), X, rtol=1e-12)
    if small:  # the test tells the eps modes apart
        clamped = RevINTransformer(checkpoint=build(weight, bias), eps_mode="clamp")
        difference = np.abs(clamped.fit_transform(X) - _btc(expected)).max()
        assert difference > 1e-2


@pytest.mark.parametrize("source", list(_AFFINE_SOURCES))
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_checkpoint_source_inverse_matches_project_denorm(source, eps):
    """Check inverse="source" divides by affine_weight + eps**2, as the projects."""
    rng = np.random.RandomState(5)
    build, _ = _AFFINE_SOURCES[source]
    weight, bias = _affine(rng, 3, dtype=torch.float64)
    X = _windows(rng, small=True)
    Y = rng.standard_normal((X.shape[0], 3, 5))
    _, denormalize = original_revin(_btc(X), weight.numpy(), bias.numpy(), eps=eps)

    revin = RevINTransformer(checkpoint=build(weight, bias), eps=eps, inverse="source")
    revin.fit(X)

    assert revin.inverse_ == "eps_squared"
    expected = _btc(denormalize(_btc(Y)))
    assert_allclose(revin.inverse_transform(Y), expected, rtol=1e-12)
    exact = RevINTransformer(checkpoint=build(weight, bias), eps=eps).fit(X)
    assert exact.inverse_ == "exact"
    assert_allclose(exact.inverse_transform(exact.transform(X)), X, rtol=1e-12)
    if eps == 0.1:  # eps**2 = 1e-2 sets the two apart
        assert np.abs(exact.inverse_transform(Y) - expected).max() > 1e-3


def tsai_revin(x, weight, bias, eps=EPS, subtract_last=False):
    """RevIN of timeseriesAI/tsai tsai/models/layers.py, on (batch, vars, steps).

    ``weight`` and ``bias`` have shape (1, vars, 1); eps is added to the
    standard deviation. Returns the normalized windows and the denormalize.
    """
    sub = x[..., -1:] if subtract_last else x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True) + eps  # unbiased=False
    normalized = (x - sub) / std * weight + bias

    def denormalize(y):
        return (y - bias) / weight * std + sub

    return normalized, denormalize


@pytest.mark.parametrize("small", [False, True])
@pytest.mark.parametrize("subtract_last", [False, True])
def test_checkpoint_tsai_revin_matches_tsai_formula(small, subtract_last):
    """Check tsai's revin_layer.weight/bias (1, V, 1): std + eps, exact inverse."""
    rng = np.random.RandomState(6)
    weight, bias = _affine(rng, 3, dtype=torch.float64)
    state_dict = {
        "model.revin_layer.weight": weight.reshape(1, 3, 1),
        "model.revin_layer.bias": bias.reshape(1, 3, 1),
        "model.head.linear.weight": torch.ones(3, 1),  # not a RevIN: no 'revin'
        "model.head.linear.bias": torch.ones(3, 1),
        "model.W_P.weight": torch.ones(1, 3, 1),
        "model.W_P.bias": torch.ones(1, 3, 1),
    }
    X = _windows(rng, small=small)
    Y = rng.standard_normal((X.shape[0], 3, 5))
    w, b = weight.numpy().reshape(1, 3, 1), bias.numpy().reshape(1, 3, 1)
    expected, denormalize = tsai_revin(X, w, b, subtract_last=subtract_last)
    center = "last" if subtract_last else "auto"

    revin = RevINTransformer(checkpoint=state_dict, center=center, inverse="source")
    revin.fit(X)

    assert revin.checkpoint_key_ == "model.revin_layer"
    assert (revin.eps_mode_, revin.inverse_) == ("add_std", "exact")
    assert_allclose(revin.transform(X), expected, rtol=1e-9, atol=1e-9)
    assert_allclose(revin.inverse_transform(Y), denormalize(Y), rtol=1e-10)
    assert_allclose(revin.inverse_transform(revin.transform(X)), X, rtol=1e-12)


def test_checkpoint_tsai_names_need_a_revin_layer_and_both_parameters():
    """Check weight/bias (1, V, 1) count only in a layer named for RevIN, in pairs."""
    head = {"head.weight": torch.ones(1, 3, 1), "head.bias": torch.ones(1, 3, 1)}
    with pytest.raises(ValueError, match="Found no RevIN layer"):
        RevINTransformer(checkpoint=head).fit(np.ones((2, 3, 4)))
    half = {"model.revin_layer.weight": torch.ones(1, 3, 1)}
    with pytest.raises(ValueError, match=r"has no partner 'model.revin_layer.bias'"):
        RevINTransformer(checkpoint=half).fit(np.ones((2, 3, 4)))


@pytest.mark.parametrize("source", ["PatchTST", "Time-Series-Library Normalize"])
@pytest.mark.parametrize("small", [False, True])
def test_checkpoint_subtract_last_matches_project_formula(source, small):
    """Check center="last" against subtract_last=True of PatchTST and TSLib."""
    rng = np.random.RandomState(4)
    build, _ = _AFFINE_SOURCES[source]
    weight, bias = _affine(rng, 3)
    X = _windows(rng, small=small)
    Y = rng.standard_normal((X.shape[0], 3, 5))
    w, b = weight.double().numpy(), bias.double().numpy()
    expected, denormalize = original_revin(_btc(X), w, b, subtract_last=True)

    revin = RevINTransformer(checkpoint=build(weight, bias), center="last").fit(X)

    assert_allclose(revin.transform(X), _btc(expected), rtol=1e-9, atol=1e-9)
    assert_allclose(revin.mean_, X[:, :, -1])
    assert_allclose(
        revin.inverse_transform(Y), _btc(denormalize(_btc(Y))), rtol=1e-8, atol=1e-9
    )
    stats = revin.instance_statistics(X)
    assert_allclose(
        revin.inverse_transform(revin.transform(X), statistics=stats), X, rtol=1e-12
    )


@pytest.mark.parametrize("small", [False, True])
def test_checkpoint_neuralforecast_revin_multivariate_matches_formula(small):
    """Check neuralforecast's RevINMultivariate, shape (1, 1, V), and its formula."""
    rng = np.random.RandomState(5)
    weight, bias = _affine(rng, 3)
    X = _windows(rng, small=small)
    Y = rng.standard_normal((X.shape[0], 3, 5))
    w = weight.double().numpy().reshape(1, 1, -1)
    b = bias.double().numpy().reshape(1, 1, -1)
    expected, denormalize = neuralforecast_revin_multivariate(_btc(X), w, b)

    revin = RevINTransformer(checkpoint=_tsmixer_checkpoint(weight, bias)).fit(X)

    assert revin.checkpoint_key_ == "norm"
    assert revin.eps_mode_ == "add"
    assert revin.gamma_.shape == (3,)
    assert_allclose(revin.transform(X), _btc(expected), rtol=1e-9, atol=1e-9)
    assert_allclose(
        revin.inverse_transform(Y), _btc(denormalize(_btc(Y))), rtol=1e-9, atol=1e-9
    )


def test_checkpoint_eps_mode_default_and_override():
    """Check eps_mode="auto" follows the source and an explicit value wins."""
    rng = np.random.RandomState(6)
    X = _windows(rng)
    weight, bias = _affine(rng, 3)
    affine_source = _patchtst_state_dict(weight, bias)
    gamma_source = _itransformer_model(rng).state_dict()

    assert RevINTransformer().fit(X).eps_mode_ == "clamp"
    assert RevINTransformer(gamma=[1, 2, 3], n_variates=3).fit(X).eps_mode_ == "clamp"
    assert RevINTransformer(checkpoint=gamma_source).fit(X).eps_mode_ == "clamp"
    assert RevINTransformer(checkpoint=affine_source).fit(X).eps_mode_ == "add"
    assert (
        RevINTransformer(checkpoint=affine_source, eps_mode="clamp").fit(X).eps_mode_
        == "clamp"
    )
    assert RevINTransformer(eps_mode="add").fit(X).eps_mode_ == "add"


def test_checkpoint_eps_mode_add_without_checkpoint_matches_formula():
    """Check eps_mode="add" with plain parameters against the original formula."""
    rng = np.random.RandomState(7)
    X = _windows(rng, small=True)
    w, b = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.0, -1.0])
    expected, _ = original_revin(_btc(X), w, b)

    Z = RevINTransformer(gamma=w, beta=b, eps_mode="add").fit_transform(X)

    assert_allclose(Z, _btc(expected), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------ nesting and prefixes


@pytest.mark.parametrize(
    "container", ["state_dict", "model", "model_state_dict", "module"]
)
def test_checkpoint_nesting_containers_in_files(tmp_path, container):
    """Check weights nested as real checkpoints nest them are found in a file."""
    rng = np.random.RandomState(8)
    weight, bias = _affine(rng, 3)
    content = {"epoch": 2, container: _patchtst_state_dict(weight, bias)}
    if container == "state_dict":
        content = _lightning(_patchtst_state_dict(weight, bias))
    path = tmp_path / "model.ckpt"
    torch.save(content, path)

    revin = RevINTransformer(checkpoint=str(path)).fit(_windows(rng))

    assert revin.checkpoint_key_ == "model.revin_layer"
    assert_array_equal(revin.gamma_, weight.double().numpy())


def test_checkpoint_container_without_tensors_is_skipped():
    """Check a "model" entry of hyper-parameters does not hide the weights."""
    rng = np.random.RandomState(27)
    weight, bias = _affine(rng, 3)
    content = {
        "model": {"name": "PatchTST", "d_model": 16},
        "model_state_dict": _patchtst_state_dict(weight, bias),
    }

    revin = RevINTransformer(checkpoint=content).fit(_windows(rng))

    assert_array_equal(revin.beta_, bias.double().numpy())


def test_checkpoint_data_parallel_and_compile_prefixes():
    """Check DataParallel/DDP "module." and torch.compile "_orig_mod." prefixes."""
    rng = np.random.RandomState(9)
    model = _itransformer_model(rng)
    X = _windows(rng)
    wrapped = {
        "DataParallel": torch.nn.DataParallel(model).state_dict(),
        "compile": torch.compile(model).state_dict(),
    }
    assert next(iter(wrapped["DataParallel"])).startswith("module.")
    assert next(iter(wrapped["compile"])).startswith("_orig_mod.")
    expected = model.reversible_instance_norm.gamma.detach().double()[:, 0].numpy()

    for state_dict in wrapped.values():
        for key in (
            None,
            "reversible_instance_norm",
            "module.reversible_instance_norm",
        ):
            revin = RevINTransformer(checkpoint=state_dict, checkpoint_key=key).fit(X)
            assert revin.checkpoint_key_ == "reversible_instance_norm"
            assert_array_equal(revin.gamma_, expected)


@given(
    n_variates=st.integers(1, 5),
    family=st.sampled_from(["gamma", "affine", "affine3d"]),
    layer=st.sampled_from(["revin", "model.revin_layer", "net.blocks.0.norm", ""]),
    wrapper=st.sampled_from(["", "module.", "_orig_mod.", "module._orig_mod."]),
    containers=st.lists(
        st.sampled_from(["state_dict", "model", "model_state_dict", "module"]),
        max_size=2,
    ),
    values=st.lists(st.floats(-3, 3, allow_subnormal=False), min_size=10, max_size=10),
)
def test_checkpoint_found_behind_any_wrapping(
    n_variates, family, layer, wrapper, containers, values
):
    """Check the layer and its values are found whatever the wrapping."""
    weight = np.array(values[:n_variates])
    bias = np.array(values[5 : 5 + n_variates])
    shape = {"gamma": (-1, 1), "affine": (-1,), "affine3d": (1, 1, -1)}[family]
    names = ("gamma", "beta") if family == "gamma" else ("affine_weight", "affine_bias")
    prefix = wrapper + (f"{layer}." if layer else "")
    content = {
        f"{prefix}{names[0]}": torch.from_numpy(weight.reshape(shape)),
        f"{prefix}{names[1]}": torch.from_numpy(bias.reshape(shape)),
        f"{wrapper}head.weight": torch.ones(2, 4),
    }
    for container in containers:
        content = {container: content, "epoch": 1}
    X = np.random.RandomState(0).standard_normal((2, n_variates, 4))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # |gamma| < eps clamps
        revin = RevINTransformer(checkpoint=content).fit(X)

    assert revin.checkpoint_key_ == layer
    assert_array_equal(revin.beta_, bias)
    assert_array_equal(np.abs(revin.gamma_), np.maximum(np.abs(weight), EPS))
    assert revin.eps_mode_ == ("clamp" if family == "gamma" else "add")


# ------------------------------------------------------- choosing the layer


def test_checkpoint_several_layers_lists_them_and_asks_for_key():
    """Check several RevIN layers give an error listing them; a key picks one."""
    rng = np.random.RandomState(10)
    weight, bias = _affine(rng, 3)
    X = _windows(rng)
    sources = {
        "PatchTST decomposition": (
            _patchtst_state_dict(weight, bias, decomposition=True),
            ["model_trend.revin_layer", "model_res.revin_layer"],
        ),
        "TimeMixer scales": (
            _timemixer_state_dict(weight, bias, n_scales=3),
            ["normalize_layers.0", "normalize_layers.1", "normalize_layers.2"],
        ),
    }
    for checkpoint, keys in sources.values():
        with pytest.raises(ValueError, match="checkpoint_key") as excinfo:
            RevINTransformer(checkpoint=checkpoint).fit(X)
        message = str(excinfo.value)
        assert f"holds {len(keys)} RevIN layers" in message
        for key in keys:
            assert repr(key) in message
        revin = RevINTransformer(checkpoint=checkpoint, checkpoint_key=keys[1])
        assert revin.fit(X).checkpoint_key_ == keys[1]


def test_checkpoint_key_suffix_ambiguous_is_an_error():
    """Check a key that ends several layers' names is refused with the list."""
    weight, bias = _affine(np.random.RandomState(12), 3)
    checkpoint = _patchtst_state_dict(weight, bias, decomposition=True)

    with pytest.raises(ValueError, match="matches 2 RevIN layers") as excinfo:
        RevINTransformer(checkpoint=checkpoint, checkpoint_key="revin_layer").fit(
            _windows(np.random.RandomState(0))
        )
    assert "model_trend.revin_layer" in str(excinfo.value)


def test_checkpoint_key_may_name_a_parameter():
    """Check a key naming the layer's weight selects that layer."""
    weight, bias = _affine(np.random.RandomState(13), 3)
    checkpoint = _patchtst_state_dict(weight, bias, decomposition=True)

    revin = RevINTransformer(
        checkpoint=checkpoint, checkpoint_key="model_res.revin_layer.affine_weight"
    ).fit(_windows(np.random.RandomState(0)))

    assert revin.checkpoint_key_ == "model_res.revin_layer"


def test_checkpoint_no_layer_lists_names_held_and_looked_for():
    """Check a checkpoint without RevIN names a few entries and the names sought."""
    checkpoint = {f"encoder.layers.{i}.weight": torch.ones(2, 2) for i in range(20)}

    with pytest.raises(ValueError, match="Found no RevIN layer") as excinfo:
        RevINTransformer(checkpoint=checkpoint).fit(np.ones((2, 4)))
    message = str(excinfo.value)
    assert "'encoder.layers.0.weight'" in message
    assert "'encoder.layers.19.weight'" not in message  # a few, not all
    assert "20 tensors" in message
    for name in ("gamma", "beta", "affine_weight", "affine_bias"):
        assert name in message


def test_checkpoint_temporal_norm_is_refused_with_reason():
    """Check neuralforecast's TemporalNorm is refused, saying why."""
    checkpoint = _lightning(_temporal_norm_state_dict(3))
    X = _windows(np.random.RandomState(0))

    for key in (None, "scaler"):
        with pytest.raises(ValueError, match="TemporalNorm") as excinfo:
            RevINTransformer(checkpoint=checkpoint, checkpoint_key=key).fit(X)
        assert "relu(revin_weight)" in str(excinfo.value)
        assert "not loaded" in str(excinfo.value)


def test_checkpoint_temporal_norm_beside_revin_warns_and_loads_revin():
    """Check a RevIN layer is loaded with a warning about an unused TemporalNorm."""
    weight, bias = _affine(np.random.RandomState(14), 3)
    checkpoint = _tsmixer_checkpoint(weight, bias)
    checkpoint["state_dict"] |= _temporal_norm_state_dict(3)

    with pytest.warns(UserWarning, match="TemporalNorm"):
        revin = RevINTransformer(checkpoint=checkpoint).fit(
            _windows(np.random.RandomState(0))
        )
    assert revin.checkpoint_key_ == "norm"


# ------------------------------------------------------------------- errors


def test_checkpoint_key_naming_nothing_is_an_error():
    """Check an unknown key names itself, the layers found and a few names."""
    model = _itransformer_model(np.random.RandomState(15))

    with pytest.raises(ValueError, match="'revin_layer' names nothing") as excinfo:
        RevINTransformer(checkpoint=model, checkpoint_key="revin_layer").fit(
            _windows(np.random.RandomState(0))
        )
    assert "'reversible_instance_norm'" in str(excinfo.value)


def test_checkpoint_key_pointing_at_another_layer_is_an_error():
    """Check a key at a non-RevIN layer names what it holds, with shapes."""
    checkpoint = {
        "revin.gamma": torch.ones(3, 1),
        "revin.beta": torch.zeros(3, 1),
        "head.weight": torch.ones(4, 12),
        "head.bias": torch.ones(4),
    }
    message = "checkpoint_key='head' does not point at a RevIN layer: it holds "
    with pytest.raises(ValueError, match=re.escape(message)) as excinfo:
        RevINTransformer(checkpoint=checkpoint, checkpoint_key="head").fit(
            _windows(np.random.RandomState(0))
        )
    assert "'head.weight' (4, 12)" in str(excinfo.value)


@pytest.mark.parametrize(
    ("present", "missing"),
    [("gamma", "beta"), ("beta", "gamma"), ("affine_weight", "affine_bias")],
)
def test_checkpoint_weight_without_bias_is_an_error(present, missing):
    """Check half a layer is refused, naming the entry found and the one missing."""
    shape = (3, 1) if present in ("gamma", "beta") else (3,)
    checkpoint = {f"revin.{present}": torch.ones(shape), "head.weight": torch.ones(2)}
    message = (
        f"checkpoint_key='revin': the checkpoint holds 'revin.{present}' of shape "
        f"{shape} but no 'revin.{missing}'"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        RevINTransformer(checkpoint=checkpoint, checkpoint_key="revin").fit(
            _windows(np.random.RandomState(0))
        )
    with pytest.raises(
        ValueError, match=re.escape(f"has no partner 'revin.{missing}'")
    ):
        RevINTransformer(checkpoint=checkpoint).fit(_windows(np.random.RandomState(0)))


def test_checkpoint_unexpected_shape_is_an_error():
    """Check a gamma of the wrong shape names both shapes and the one expected."""
    checkpoint = {"norm.gamma": torch.ones(3), "norm.beta": torch.zeros(3)}
    message = (
        "checkpoint_key='norm': 'norm.gamma' has shape (3,) and 'norm.beta' has "
        "shape (3,), but"
    )

    with pytest.raises(ValueError, match=re.escape(message)) as excinfo:
        RevINTransformer(checkpoint=checkpoint, checkpoint_key="norm").fit(
            _windows(np.random.RandomState(0))
        )
    assert "(V, 1)" in str(excinfo.value)


@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_checkpoint_n_variates_mismatch_is_an_error(layout):
    """Check a V that does not match X names the key, the shape and the expected."""
    model = _itransformer_model(np.random.RandomState(16), n_variates=3)
    X = _windows(np.random.RandomState(0), n_variates=2)
    X = X.reshape(X.shape[0], -1) if layout == "2d" else X
    n_variates = 1 if layout == "2d" else 2
    message = (
        "The checkpoint's RevIN layer 'reversible_instance_norm' holds "
        "'reversible_instance_norm.gamma' of shape (3, 1), that is 3 variate(s), "
        f"but X has {n_variates} variate(s); expected shape ({n_variates}, 1)."
    )

    with pytest.raises(ValueError, match=re.escape(message)) as excinfo:
        RevINTransformer(checkpoint=model).fit(X)
    assert ("pass n_variates=3" in str(excinfo.value)) == (layout == "2d")


def test_checkpoint_2d_input_with_n_variates():
    """Check 2-D variate-major X works with the checkpoint's V as n_variates."""
    rng = np.random.RandomState(17)
    model = _itransformer_model(rng)
    X = _windows(rng)

    revin = RevINTransformer(checkpoint=model, n_variates=3).fit(X.reshape(6, -1))
    reference = RevINTransformer(checkpoint=model).fit(X)

    assert_allclose(
        revin.transform(X.reshape(6, -1)), reference.transform(X).reshape(6, -1)
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_checkpoint_non_finite_values_are_an_error(bad):
    """Check a NaN or inf in the learned parameters is refused, naming the entry."""
    checkpoint = {
        "revin.affine_weight": torch.tensor([1.0, bad, 2.0]),
        "revin.affine_bias": torch.zeros(3),
    }
    message = "The checkpoint's 'revin.affine_weight' (shape (3,)) holds 1 non-finite"

    with pytest.raises(ValueError, match=re.escape(message)):
        RevINTransformer(checkpoint=checkpoint).fit(_windows(np.random.RandomState(0)))


def test_checkpoint_with_gamma_or_beta_is_an_error():
    """Check gamma/beta parameters together with a checkpoint are refused."""
    model = _itransformer_model(np.random.RandomState(18))
    X = _windows(np.random.RandomState(0))

    for params in ({"gamma": [1.0, 1.0, 1.0]}, {"beta": [0.0, 0.0, 0.0]}):
        with pytest.raises(ValueError, match="cannot be combined with checkpoint"):
            RevINTransformer(checkpoint=model, **params).fit(X)


def test_checkpoint_parameter_types_are_validated():
    """Check checkpoint, checkpoint_key, eps_mode and center are validated."""
    X = np.ones((2, 4))
    for params in (
        {"checkpoint": 3},
        {"checkpoint_key": 3},
        {"eps_mode": "sqrt"},
        {"center": "median"},
    ):
        with pytest.raises(InvalidParameterError):
            RevINTransformer(**params).fit(X)


def test_checkpoint_file_that_is_not_a_state_dict_is_an_error(tmp_path):
    """Check a torch file of another object, or not a torch file, is refused."""
    not_a_dict = tmp_path / "list.pt"
    torch.save([torch.ones(3)], not_a_dict)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")

    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        RevINTransformer(checkpoint=not_a_dict).fit(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"Could not read .* as a torch checkpoint"):
        RevINTransformer(checkpoint=garbage).fit(np.ones((2, 4)))
    with pytest.raises(FileNotFoundError):
        RevINTransformer(checkpoint=tmp_path / "missing.pt").fit(np.ones((2, 4)))


# ----------------------------------------------------------------- security


class _CreatesFile:
    """Unpickling this object opens (so creates) a file: code run from a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _torch_file_with_payload(path, target):
    torch.save(_CreatesFile(str(target)), path)


def _torch_file_with_weights_and_payload(path, target):
    torch.save(
        {
            "state_dict": {
                "revin.gamma": torch.ones(3, 1),
                "revin.beta": torch.ones(3, 1),
            },
            "hyper_parameters": {"callback": _CreatesFile(str(target))},
        },
        path,
    )


def _raw_pickle_with_payload(path, target):
    # protocol 2, as torch's legacy format; torch refuses newer protocols'
    # framing before it reaches the global (tested below too).
    path.write_bytes(pickle.dumps(_CreatesFile(str(target)), protocol=2))


def _raw_pickle_protocol_5_with_payload(path, target):
    path.write_bytes(pickle.dumps(_CreatesFile(str(target)), protocol=5))


class _LookalikeModule:
    """A module named like a library's, present only while a test pickles."""

    def __init__(self, name, **attributes):
        self.module = types.ModuleType(name)
        for attribute, value in attributes.items():
            value.__module__ = name
            value.__qualname__ = attribute
            setattr(self.module, attribute, value)

    def __enter__(self):
        sys.modules[self.module.__name__] = self.module
        return self.module

    def __exit__(self, *exc_info):
        del sys.modules[self.module.__name__]


def _torch_file_with_payload_behind_a_loss(path, target):
    # A GLOBAL named like a loss class (as Lightning hyper-parameters hold
    # one) whose REDUCE argument calls io.open: hidden behind a class name.
    class MAE:
        def __init__(self, *args):
            pass

        def __reduce__(self):
            return (type(self), (_CreatesFile(str(target)),))

    with _LookalikeModule("neuralforecast_lookalike_losses", MAE=MAE) as module:
        torch.save(
            {
                "state_dict": {
                    "revin.gamma": torch.ones(3, 1),
                    "revin.beta": torch.ones(3, 1),
                },
                "hyper_parameters": {"loss": module.MAE()},
            },
            path,
        )


def _torch_file_with_os_system_behind_a_loss(path, target):
    # The same with os.system (posix.system when pickled) in the REDUCE.
    class _System:
        def __reduce__(self):
            return (os.system, (f"touch {target}",))

    class MAE:
        def __init__(self, *args):
            pass

        def __reduce__(self):
            return (type(self), (_System(),))

    with _LookalikeModule("neuralforecast_lookalike_losses", MAE=MAE) as module:
        torch.save(
            {"state_dict": {"revin.gamma": torch.ones(3, 1)}, "loss": module.MAE()},
            path,
        )


def _torch_file_calling_a_function_named_like_a_library(path, target):
    # A lowercase name (a function, not a class) outside the blocked modules.
    def build_model(*args):
        return open(*args)  # what the real function would do

    class Model:
        def __reduce__(self):
            return (build_model, (str(target), "w"))

    with _LookalikeModule("darts_lookalike_utils", build_model=build_model):
        torch.save(
            {"state_dict": {"revin.gamma": torch.ones(3, 1)}, "m": Model()}, path
        )


_PAYLOADS = [
    _torch_file_with_payload,
    _torch_file_with_weights_and_payload,
    _torch_file_with_payload_behind_a_loss,
    _torch_file_with_os_system_behind_a_loss,
    _torch_file_calling_a_function_named_like_a_library,
    _raw_pickle_with_payload,
    _raw_pickle_protocol_5_with_payload,
]
# The format is told by the bytes: a payload is refused under every name, and
# as the model file of a NeuralForecast.save directory ("/").
_EXTENSIONS = [".pt", ".pth", ".ckpt", ".pth.tar", ".bin", ".safetensors", "", "/"]


@pytest.mark.parametrize("write", _PAYLOADS)
@pytest.mark.parametrize("extension", _EXTENSIONS)
@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_checkpoint_crafted_pickle_is_refused_and_never_run(tmp_path, write, extension):
    """Check a pickle whose loading would create a file is refused, file absent."""
    target = tmp_path / "pwned.txt"
    path = tmp_path / f"model{extension}"
    if extension == "/":
        path.mkdir()
        write(path / "PatchTST_0.safetensors", target)
    else:
        write(path, target)

    with pytest.raises(ValueError, match="Refused to load") as excinfo:
        RevINTransformer(checkpoint=path).fit(np.ones((2, 4)))
    assert "weights_only=True" in str(excinfo.value)
    if write is _torch_file_calling_a_function_named_like_a_library:
        assert "darts_lookalike_utils.build_model, a function" in str(excinfo.value)
    elif write is _torch_file_with_os_system_behind_a_loss:
        assert f"{os.system.__module__}.system" in str(excinfo.value)
    elif write is not _raw_pickle_protocol_5_with_payload:
        assert "io.open" in str(excinfo.value)  # what builtins.open pickles as
    assert not target.exists()
    with pytest.raises(ValueError, match="Refused to load"):
        RevINTransformer.from_checkpoint(path)
    assert not target.exists()


class _Calls:
    """Unpickling this object calls ``function(*args)``."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


@pytest.mark.parametrize(
    ("function", "named"),
    [
        (eval, "builtins.eval"),
        (exec, "builtins.exec"),
        (getattr, "builtins.getattr"),
        (subprocess.Popen, "subprocess.Popen"),
        (importlib.import_module, "importlib.import_module"),
    ],
)
@pytest.mark.parametrize("extension", [".ckpt", ".safetensors"])
def test_checkpoint_callables_are_refused_with_the_reason(
    tmp_path, function, named, extension
):
    """Check eval, exec, builtins, subprocess, importlib: refused, named, not run."""
    target = tmp_path / "pwned.txt"
    args = {
        "builtins.eval": (f"open({str(target)!r}, 'w')",),
        "builtins.exec": (f"open({str(target)!r}, 'w')",),
        "builtins.getattr": (str, "join"),
        "subprocess.Popen": (["touch", str(target)],),
        "importlib.import_module": ("this",),
    }[named]
    path = tmp_path / f"model{extension}"
    torch.save(
        {"state_dict": {"revin.gamma": torch.ones(3, 1)}, "x": _Calls(function, *args)},
        path,
    )

    with pytest.raises(ValueError, match="Refused to load") as excinfo:
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))

    assert named in str(excinfo.value)
    assert "run commands or code" in str(excinfo.value)
    assert not target.exists()


def test_checkpoint_crafted_pickle_payload_is_real(tmp_path):
    """Check the payload of the security test does create the file when unpickled."""
    target = tmp_path / "pwned.txt"
    path = tmp_path / "model.pt"
    _torch_file_with_payload(path, target)
    with zipfile.ZipFile(path) as archive:
        data = archive.read(
            next(n for n in archive.namelist() if n.endswith("data.pkl"))
        )

    pickle.loads(data).close()  # what an unrestricted load would do

    assert target.exists()


_IMPORTED_MODULE = """
from pathlib import Path
Path({imported!r}).touch()  # importing this module runs code


class MAE:
    def __init__(self, *args):
        Path({ran!r}).touch()

    def __setstate__(self, state):
        Path({ran!r}).touch()

    def __reduce__(self):
        return (MAE, ())
"""


def test_checkpoint_named_classes_become_stand_ins_never_imported(
    tmp_path, monkeypatch
):
    """Check a class a pickle names is neither imported nor run, and tensors load."""
    imported, ran = tmp_path / "imported.txt", tmp_path / "ran.txt"
    package = tmp_path / "code"
    package.mkdir()
    (package / "lookalike_losses.py").write_text(
        _IMPORTED_MODULE.format(imported=str(imported), ran=str(ran))
    )
    monkeypatch.syspath_prepend(str(package))
    import lookalike_losses  # noqa: F401 (to pickle its class)

    path = tmp_path / "lightning.ckpt"
    torch.save(
        _lightning(
            {"revin.gamma": torch.full((3, 1), 2.0), "revin.beta": torch.ones(3, 1)}
        )
        | {"hyper_parameters": {"loss": sys.modules["lookalike_losses"].MAE()}},
        path,
    )
    del sys.modules["lookalike_losses"]
    imported.unlink()
    ran.unlink()

    revin = RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))

    assert_array_equal(revin.gamma_, [2.0, 2.0, 2.0])
    assert "lookalike_losses" not in sys.modules
    assert not imported.exists()
    assert not ran.exists()


def test_checkpoint_container_classes_become_plain_containers(tmp_path):
    """Check dict and list subclasses (Lightning's AttributeDict) load as plain ones."""
    attribute_dict = type("AttributeDict", (dict,), {})
    items = type("L", (list,), {})
    path = tmp_path / "lightning.ckpt"
    with _LookalikeModule(
        "lookalike_fabric", AttributeDict=attribute_dict, L=items
    ) as module:
        hyper_parameters = module.AttributeDict(revin_subtract_last=True)
        hyper_parameters["callbacks"] = module.L([1, 2])
        state_dict = {"revin.gamma": torch.ones(3, 1), "revin.beta": torch.ones(3, 1)}
        torch.save(
            _lightning(state_dict) | {"hyper_parameters": hyper_parameters}, path
        )

    revin = RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))

    assert revin.center_ == "last"
    assert "revin_subtract_last=True" in revin.settings_origin_["center"]


def test_checkpoint_legacy_torch_file_with_a_class_is_refused(tmp_path):
    """Check the legacy format gets no stand-ins: refused, naming the class."""
    path = tmp_path / "legacy.pt"
    with _LookalikeModule("lookalike_config", Config=type("Config", (), {})) as m:
        torch.save(
            {"revin.gamma": torch.ones(3, 1), "cfg": m.Config()},
            path,
            _use_new_zipfile_serialization=False,
        )
    with pytest.raises(ValueError, match=r"Refused to load.*lookalike_config.Config"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))


@pytest.mark.parametrize("name", ["weights.safetensors", "model.ckpt", "model"])
def test_checkpoint_format_is_told_by_the_bytes(tmp_path, name):
    """Check safetensors, zip and legacy torch files load under any name."""
    state_dict = {
        "revin.gamma": torch.full((3, 1), 2.0),
        "revin.beta": torch.ones(3, 1),
    }
    safetensors_torch = pytest.importorskip("safetensors.torch")
    writers = {
        "zip": lambda path: torch.save(state_dict, path),
        "legacy": lambda path: torch.save(
            state_dict, path, _use_new_zipfile_serialization=False
        ),
        "safetensors": lambda path: safetensors_torch.save_file(state_dict, str(path)),
    }
    for kind, write in writers.items():
        path = tmp_path / kind / name
        path.parent.mkdir()
        write(path)
        revin = RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))
        assert_array_equal(revin.gamma_, [2.0, 2.0, 2.0])


def test_checkpoint_fifo_device_and_directory_are_clear_errors(tmp_path):
    """Check a FIFO or a device is refused unopened (no hang), a directory listed."""
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file \\(it is a FIFO\\)"):
        RevINTransformer(checkpoint=fifo).fit(np.ones((2, 4)))
    with pytest.raises(ValueError, match="it is a device"):
        RevINTransformer(checkpoint="/dev/null").fit(np.ones((2, 4)))
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match=r"is a directory.*holds notes.txt, pipe.pt"):
        RevINTransformer(checkpoint=tmp_path).fit(np.ones((2, 4)))


def test_checkpoint_neuralforecast_save_directory_layout(tmp_path):
    """Check a directory with one <Model>_<n>.safetensors loads it; several list."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    layer = {
        "norm.affine_weight": torch.ones(1, 1, 3) * 2,
        "norm.affine_bias": torch.zeros(1, 1, 3),
    }
    safetensors_torch.save_file(layer, str(tmp_path / "TSMixer_0.safetensors"))
    (tmp_path / "configuration.json").write_text("{}")

    revin = RevINTransformer(checkpoint=tmp_path).fit(np.ones((2, 3, 4)))
    assert_array_equal(revin.gamma_, [2.0, 2.0, 2.0])

    safetensors_torch.save_file(layer, str(tmp_path / "PatchTST_1.safetensors"))
    with pytest.raises(
        ValueError,
        match=r"holds 2 model files: PatchTST_1.safetensors, TSMixer_0.safetensors",
    ):
        RevINTransformer(checkpoint=tmp_path).fit(np.ones((2, 3, 4)))


def _deflated_copy(source, target, *, extra_zeros=0):
    """Rewrite a torch zip with deflate, optionally with a member of zeros."""
    with (
        zipfile.ZipFile(source) as archive,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for member in archive.infolist():
            copy.writestr(member.filename, archive.read(member.filename))
        if extra_zeros:
            prefix = archive.namelist()[0].split("/")[0]
            with copy.open(f"{prefix}/data/99", "w") as zeros:
                chunk = bytes(2**20)
                for _ in range(extra_zeros // len(chunk)):
                    zeros.write(chunk)


def test_checkpoint_deflated_archive_is_read_not_mapped(tmp_path):
    """Check a deflate-compressed torch file gives its values, not mapped bytes."""
    plain = tmp_path / "plain.pt"
    torch.save(
        {"revin.gamma": torch.tensor([[2.0], [3.0]]), "revin.beta": torch.ones(2, 1)},
        plain,
    )
    deflated = tmp_path / "deflated.pt"
    _deflated_copy(plain, deflated)

    revin = RevINTransformer(checkpoint=deflated).fit(np.ones((2, 2, 4)))

    assert_array_equal(revin.gamma_, [2.0, 3.0])


def test_checkpoint_stored_archive_is_mapped_not_read(tmp_path, monkeypatch):
    """Check torch.save's (stored) archive is loaded with mmap=True: not read."""
    path = tmp_path / "model.pt"
    state_dict = {"revin.gamma": torch.ones(3, 1), "revin.beta": torch.ones(3, 1)}
    torch.save(state_dict | {"head.weight": torch.zeros(64, 64)}, path)
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)

    RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))

    assert [(call["mmap"], call["weights_only"]) for call in calls] == [(True, True)]


def test_checkpoint_deflate_bomb_is_refused_before_reading(tmp_path, monkeypatch):
    """Check a 0.5 MiB archive inflating to 512 MiB is refused in bounded memory."""
    plain = tmp_path / "plain.pt"
    torch.save({"revin.gamma": torch.ones(3, 1), "revin.beta": torch.ones(3, 1)}, plain)
    bomb = tmp_path / "bomb.pt"
    _deflated_copy(plain, bomb, extra_zeros=512 * 2**20)
    assert bomb.stat().st_size < 2**20

    def no_load(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_load)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"'plain/data/99' alone to 536870912"):
            RevINTransformer(checkpoint=bomb).fit(np.ones((2, 3, 4)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_checkpoint_safetensors_reads_only_the_layer_after_checking_v(
    tmp_path, monkeypatch
):
    """Check only the two RevIN tensors are read, and V is checked before."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from sklearn_revin._checkpoint_files import StoredTensor

    path = tmp_path / "model.ckpt"
    safetensors_torch.save_file(
        {
            "model.revin_layer.affine_weight": torch.full((3,), 2.0),
            "model.revin_layer.affine_bias": torch.zeros(3),
            "model.head.weight": torch.zeros(256, 1024),
        },
        str(path),
        metadata={"hyper_parameters": '{"revin_subtract_last": true}'},
    )
    read = []
    original = StoredTensor.load
    monkeypatch.setattr(
        StoredTensor, "load", lambda self: read.append(self.shape) or original(self)
    )

    with pytest.raises(ValueError, match="that is 3 variate\\(s\\), but X has 2"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 2, 4)))
    assert read == []
    revin = RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))
    assert read == [(3,), (3,)]
    assert revin.center_ == "last"
    assert revin.settings_origin_["center"] == (
        "checkpoint (the hyper_parameters of the safetensors metadata: "
        "revin_subtract_last=True)"
    )


def test_checkpoint_recorded_without_affine_says_so(tmp_path):
    """Check a checkpoint recording revin_affine=False explains the missing layer."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "patchtst.ckpt"
    safetensors_torch.save_file(
        {"model.head.weight": torch.zeros(4, 8)},
        str(path),
        metadata={"hyper_parameters": '{"revin": true, "revin_affine": false}'},
    )
    with pytest.raises(ValueError, match=r"Found no RevIN layer.*revin_affine=False"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 1, 4)))


def test_checkpoint_damaged_safetensors_is_a_value_error_naming_the_file(tmp_path):
    """Check a SafetensorError (a truncated file) becomes a ValueError."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file({"revin.gamma": torch.ones(300, 1)}, str(path))
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(ValueError, match=r"Could not read .*model.safetensors"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 4)))


class _Forecaster:
    """An object holding its trained module as ``.model``, as darts' models do."""

    def __init__(self, model):
        self.model = model

    def __repr__(self):
        return "_Forecaster(" + "x" * 10_000 + ")"  # never dumped in an error


def test_checkpoint_object_with_a_model_module():
    """Check an object whose .model is a module is used, or a clear hint given."""
    rng = np.random.RandomState(21)
    model = _itransformer_model(rng)
    X = _windows(rng)

    revin = RevINTransformer(checkpoint=_Forecaster(model)).fit(X)
    assert_array_equal(
        revin.gamma_, model.reversible_instance_norm.gamma.detach().double()[:, 0]
    )
    with pytest.raises(ValueError, match=r"_Forecaster whose .model is None") as exc:
        RevINTransformer(checkpoint=_Forecaster(None)).fit(X)
    assert "xxxx" not in str(exc.value)


def test_checkpoint_recorded_eps_and_subtract_last_of_a_module():
    """Check a module's layer eps and subtract_last become eps_ and center_."""

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.eps, self.subtract_last = 1e-3, True
            self.affine_weight = torch.nn.Parameter(torch.full((3,), 2.0))
            self.affine_bias = torch.nn.Parameter(torch.zeros(3))

    model = torch.nn.Sequential()
    model.add_module("rin", Layer())
    X = _windows(np.random.RandomState(22), small=True)
    expected, _ = original_revin(_btc(X), 2.0, 0.0, eps=1e-3, subtract_last=True)

    revin = RevINTransformer(checkpoint=model).fit(X)

    assert (revin.eps_, revin.center_) == (1e-3, "last")
    assert revin.settings_origin_ == {
        "eps": "checkpoint (the module's rin.eps)",
        "center": "checkpoint (the module's rin.subtract_last=True)",
    }
    assert_allclose(revin.transform(X), _btc(expected), rtol=1e-9, atol=1e-9)
    with pytest.warns(UserWarning, match=r"eps=1e-05 was given.*eps=0.001"):
        given = RevINTransformer(checkpoint=model, eps=1e-5).fit(X)
    assert given.eps_ == 1e-5
    rebuilt = RevINTransformer.from_checkpoint(model)  # keeps what is recorded
    assert (rebuilt.eps, rebuilt.center) == (1e-3, "last")
    with pytest.warns(UserWarning, match=r"center='mean' was given.*'last'"):
        RevINTransformer.from_checkpoint(model, center="mean")
    unpickled = pickle.loads(pickle.dumps(RevINTransformer(checkpoint=model)))
    assert (unpickled.eps, unpickled.center) == (1e-3, "last")
    model.rin.non_norm = True  # neuralforecast's RevIN(non_norm=True)
    with pytest.raises(ValueError, match="does not normalize"):
        RevINTransformer(checkpoint=model).fit(X)


def test_checkpoint_without_record_uses_the_defaults():
    """Check eps_/center_ fall back to 1e-5 and "mean", and say so."""
    state_dict = {"revin.gamma": torch.ones(3, 1), "revin.beta": torch.zeros(3, 1)}
    revin = RevINTransformer(checkpoint=state_dict).fit(np.ones((2, 3, 4)))
    assert (revin.eps_, revin.center_) == (1e-5, "mean")
    assert revin.settings_origin_ == {"eps": "default", "center": "default"}
    plain = RevINTransformer(eps=1e-3, center="last").fit(np.ones((2, 3, 4)))
    assert plain.settings_origin_ == {"eps": "parameter", "center": "parameter"}


# --------------------------------------------------------------- safetensors


def test_checkpoint_safetensors_round_trip(tmp_path):
    """Check to_module -> .safetensors -> checkpoint gives the same transformer."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    rng = np.random.RandomState(19)
    weight, bias = _affine(rng, 3)
    X = _windows(rng)
    first = RevINTransformer(checkpoint=_patchtst_state_dict(weight, bias)).fit(X)
    path = tmp_path / "revin.safetensors"
    module = first.to_module(dtype=torch.float64)
    safetensors_torch.save_file(module.state_dict(), str(path))

    second = RevINTransformer(checkpoint=path, eps_mode="add").fit(X)

    assert second.checkpoint_key_ == ""
    assert_array_equal(second.gamma_, first.gamma_)
    assert_array_equal(second.beta_, first.beta_)
    assert_allclose(second.transform(X), first.transform(X), rtol=1e-12)


def test_checkpoint_safetensors_of_a_model(tmp_path):
    """Check a model's state dict saved with safetensors is found like a torch file."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    rng = np.random.RandomState(20)
    model = _itransformer_model(rng)
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_model(model, str(path))
    X = _windows(rng)

    revin = RevINTransformer(checkpoint=str(path)).fit(X)

    assert_array_equal(
        revin.gamma_, model.reversible_instance_norm.gamma.detach().double()[:, 0]
    )


def test_checkpoint_safetensors_missing_is_a_clear_import_error(tmp_path, monkeypatch):
    """Check reading a safetensors file without the package says how to install it."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "x.bin"  # the format is told by the bytes, not the name
    safetensors_torch.save_file({"gamma": torch.ones(2, 1)}, str(path))
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)

    with pytest.raises(ImportError, match="pip install safetensors"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 4)))


# ------------------------------------------------------------- way back


def test_to_module_loads_into_itransformer_revin():
    """Check to_module's state dict loads strictly into the reference RevIN."""
    rng = np.random.RandomState(21)
    model = _itransformer_model(rng)
    X = _windows(rng).astype(np.float32)
    revin = RevINTransformer(checkpoint=model).fit(X)

    state_dict = revin.to_module().state_dict()
    reference = ReferenceRevIN(3)
    reference.load_state_dict(state_dict)
    with torch.no_grad():
        normalized, _ = reference(torch.from_numpy(X))

    assert {name: tuple(t.shape) for name, t in state_dict.items()} == {
        "gamma": (3, 1),
        "beta": (3, 1),
    }
    assert_allclose(revin.transform(X), normalized.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("center", ["mean", "last"])
def test_to_module_reproduces_transformer_and_project_formula(center):
    """Check to_module keeps eps_mode and center, as PatchTST computes them."""
    rng = np.random.RandomState(22)
    weight, bias = _affine(rng, 3, dtype=torch.float64)
    X = _windows(rng, small=True)
    Y = rng.standard_normal((X.shape[0], 3, 4))
    revin = RevINTransformer(
        checkpoint=_patchtst_state_dict(weight, bias), center=center
    ).fit(X)
    expected, denormalize = original_revin(
        _btc(X), weight.numpy(), bias.numpy(), subtract_last=center == "last"
    )

    module = revin.to_module(dtype=torch.float64)
    with torch.no_grad():
        normalized, reverse_fn = module(torch.from_numpy(X))
        restored = reverse_fn(torch.from_numpy(Y))

    assert module.eps_mode == "add"
    assert module.center == center
    assert_allclose(normalized.numpy(), revin.transform(X), rtol=1e-12, atol=1e-12)
    assert_allclose(normalized.numpy(), _btc(expected), rtol=1e-9, atol=1e-9)
    assert_allclose(restored.numpy(), revin.inverse_transform(Y), rtol=1e-12)
    assert_allclose(restored.numpy(), _btc(denormalize(_btc(Y))), rtol=1e-8)


def test_to_module_requires_fit():
    """Check to_module on an unfitted transformer raises NotFittedError."""
    with pytest.raises(NotFittedError):
        RevINTransformer().to_module()


def test_nn_revin_rejects_unknown_eps_mode_and_center():
    """Check nn.RevIN validates its eps_mode and center."""
    with pytest.raises(ValueError, match="eps_mode must be one of"):
        RevIN(3, eps_mode="sqrt")
    with pytest.raises(ValueError, match="center must be one of"):
        RevIN(3, center="median")
    assert "eps_mode='add', center='last'" in repr(
        RevIN(3, eps_mode="add", center="last")
    )


# ----------------------------------------------- from_checkpoint, pickle, clone


class _RecordingUnpickler(pickle.Unpickler):
    """Unpickler that records the modules of the globals a pickle needs."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.modules = set()

    def find_class(self, module, name):
        self.modules.add(module)
        return super().find_class(module, name)


def _unpickle_recording(data):
    unpickler = _RecordingUnpickler(data)
    return unpickler.load(), unpickler.modules


def test_checkpoint_fitted_from_path_pickles_without_file_or_torch(tmp_path):
    """Check a fitted transformer pickles without the file and without torch."""
    rng = np.random.RandomState(23)
    path = tmp_path / "itransformer.pt"
    torch.save(_itransformer_model(rng).state_dict(), path)
    X = _windows(rng)
    revin = RevINTransformer(checkpoint=path).fit(X)
    expected = revin.transform(X)

    data = pickle.dumps(revin)
    path.unlink()
    restored, modules = _unpickle_recording(data)

    assert not any(module.startswith("torch") for module in modules)
    assert restored.checkpoint == path
    assert_array_equal(restored.transform(X), expected)
    assert_array_equal(clone(revin).checkpoint, path)


@pytest.mark.parametrize("kind", ["module", "state dict", "from_checkpoint"])
def test_checkpoint_in_memory_pickles_as_its_revin_layer(kind):
    """Check a module or state dict pickles as the RevIN layer's NumPy arrays."""
    rng = np.random.RandomState(24)
    model = _itransformer_model(rng)
    X = _windows(rng)
    revin = {
        "module": RevINTransformer(checkpoint=model),
        "state dict": RevINTransformer(checkpoint=model.state_dict()),
        "from_checkpoint": RevINTransformer.from_checkpoint(model),
    }[kind].fit(X)
    expected = revin.transform(X)

    restored, modules = _unpickle_recording(pickle.dumps(revin))

    assert not any(module.startswith("torch") for module in modules)
    assert sorted(restored.checkpoint) == [
        "reversible_instance_norm.beta",
        "reversible_instance_norm.gamma",
    ]
    assert all(isinstance(v, np.ndarray) for v in restored.checkpoint.values())
    assert_array_equal(restored.transform(X), expected)
    refitted = restored.fit(X)  # the arrays are a checkpoint on their own
    assert_array_equal(refitted.gamma_, revin.gamma_)
    assert_array_equal(refitted.transform(X), expected)


def test_checkpoint_fit_leaves_the_checkpoint_unchanged():
    """Check fit neither mutates nor replaces a module or state dict checkpoint."""
    rng = np.random.RandomState(28)
    model = _itransformer_model(rng)
    state_dict = {k: v.clone() for k, v in model.state_dict().items()}
    X = _windows(rng)

    for checkpoint in (model, state_dict):
        revin = RevINTransformer(checkpoint=checkpoint)
        revin.fit(X)
        assert revin.checkpoint is checkpoint
        after = checkpoint.state_dict() if checkpoint is model else checkpoint
        assert after.keys() == model.state_dict().keys()
        for name, value in after.items():
            assert torch.equal(value, state_dict[name])


def test_checkpoint_clone_keeps_the_checkpoint_parameter():
    """Check clone keeps checkpoint and checkpoint_key (a module is deep-copied)."""
    model = _itransformer_model(np.random.RandomState(25))
    X = _windows(np.random.RandomState(0))
    revin = RevINTransformer(
        checkpoint=model, checkpoint_key="reversible_instance_norm"
    )

    cloned = clone(revin)

    assert cloned.checkpoint_key == "reversible_instance_norm"
    assert isinstance(cloned.checkpoint, type(model))
    for name, value in model.state_dict().items():
        assert torch.equal(cloned.checkpoint.state_dict()[name], value)
    assert_array_equal(cloned.fit(X).gamma_, revin.fit(X).gamma_)


def test_from_checkpoint_reads_now_and_keeps_only_the_layer(tmp_path):
    """Check from_checkpoint fails at once and keeps the layer's arrays only."""
    rng = np.random.RandomState(26)
    weight, bias = _affine(rng, 3)
    path = tmp_path / "patchtst.pth"
    torch.save(_patchtst_state_dict(weight, bias, decomposition=True), path)

    with pytest.raises(ValueError, match="holds 2 RevIN layers"):
        RevINTransformer.from_checkpoint(path)
    revin = RevINTransformer.from_checkpoint(
        path, key="model_res.revin_layer", eps=1e-3
    )
    path.unlink()

    assert revin.checkpoint_key == "model_res.revin_layer"
    assert revin.eps == 1e-3
    assert sorted(revin.checkpoint) == [
        "model_res.revin_layer.affine_bias",
        "model_res.revin_layer.affine_weight",
    ]
    revin.fit(_windows(rng))
    assert revin.eps_mode_ == "add"
    assert_array_equal(revin.gamma_, weight.double().numpy())
    assert_array_equal(
        clone(revin).checkpoint["model_res.revin_layer.affine_bias"], bias
    )


# ------------------------------------------- files under attack (issue 19)
#
# Each test below builds its crafted file and fails on the loader before
# issue 19: the case number of the issue is in the docstring. Costs are
# bounded by construction (the pickle pre-scan of sklearn_revin._pickle_scan);
# memory is measured by tracemalloc (Python objects, which is what torch's
# unpickler builds) or by the peak resident size of this process.


def _peak_rss_mib():
    """Return this process's peak resident size in MiB since the last reset.

    The kernel's high-water mark (VmHWM), reset by ``_reset_peak_rss``: the
    peak of the whole test session (ru_maxrss) would hide any growth here.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("/proc/self/status has no VmHWM line")


def _reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # the peak becomes the current resident size


def _affine_state_dict(weight, bias):
    return {"revin.affine_weight": weight, "revin.affine_bias": bias}


@pytest.mark.parametrize("change", ["rewrite", "truncate", "delete"])
def test_checkpoint_fitted_parameters_do_not_alias_the_file(tmp_path, change):
    """Check a float64 zip checkpoint is copied at fit (case 1).

    torch maps zip checkpoints (mmap=True) and a float64 tensor converts to
    NumPy without a copy: gamma_ and beta_ were views of the file.
    """
    path = tmp_path / "epoch.ckpt"
    torch.save(
        _lightning(
            _affine_state_dict(
                torch.full((3,), 2.0, dtype=torch.float64),
                torch.full((3,), 5.0, dtype=torch.float64),
            )
        ),
        path,
    )
    X = np.random.default_rng(0).normal(size=(4, 3, 6))
    revin = RevINTransformer(checkpoint=path).fit(X)
    before = revin.transform(X)

    if change == "rewrite":
        torch.save(
            _lightning(
                _affine_state_dict(
                    torch.full((3,), -7.0, dtype=torch.float64),
                    torch.full((3,), -100.0, dtype=torch.float64),
                )
            ),
            path,
        )
    elif change == "truncate":
        os.truncate(path, 0)
    else:
        path.unlink()

    assert_array_equal(revin.beta_, [5.0, 5.0, 5.0])
    assert_array_equal(revin.transform(X), before)


def test_checkpoint_from_checkpoint_state_dict_owns_its_arrays(tmp_path):
    """Check from_checkpoint's small state dict is not a view of the file (case 1)."""
    path = tmp_path / "model.pt"
    torch.save(
        _affine_state_dict(
            torch.full((3,), 2.0, dtype=torch.float64),
            torch.ones(3, dtype=torch.float64),
        ),
        path,
    )
    revin = RevINTransformer.from_checkpoint(path)
    torch.save(
        _affine_state_dict(
            torch.full((3,), 9.0, dtype=torch.float64),
            torch.ones(3, dtype=torch.float64),
        ),
        path,
    )
    assert all(
        np.array_equal(values, [2.0, 2.0, 2.0]) or np.array_equal(values, [1.0] * 3)
        for values in revin.checkpoint.values()
    )
    assert_array_equal(revin.fit(np.ones((2, 3, 4))).gamma_, [2.0, 2.0, 2.0])


def test_checkpoint_loads_from_eight_threads(tmp_path):
    """Check a Lightning/fastai style file loads from 8 threads at once (case 2).

    Its classes are filled like a dict (Lightning's AttributeDict) and a list
    (fastai's L); torch's allowed globals are one registry for the process.
    """
    from concurrent.futures import ThreadPoolExecutor

    attribute_dict = type("AttributeDict", (dict,), {})
    items = type("L", (list,), {})
    path = tmp_path / "lightning.ckpt"
    with _LookalikeModule(
        "lookalike_threads", AttributeDict=attribute_dict, L=items
    ) as module:
        hyper_parameters = module.AttributeDict(revin_subtract_last=True)
        hyper_parameters["callbacks"] = module.L([1, 2])
        state_dict = {
            "revin.gamma": torch.full((3, 1), 2.0),
            "revin.beta": torch.ones(3, 1),
        }
        torch.save(
            _lightning(state_dict) | {"hyper_parameters": hyper_parameters}, path
        )
    X = np.random.default_rng(1).normal(size=(2, 3, 4))

    def fit(_):
        return RevINTransformer(checkpoint=path).fit(X)

    with ThreadPoolExecutor(max_workers=8) as pool:
        fitted = list(pool.map(fit, range(64)))

    for revin in fitted:
        assert_array_equal(revin.gamma_, [2.0, 2.0, 2.0])
        assert revin.center_ == "last"


def test_checkpoint_expanded_tensor_is_refused_before_conversion(tmp_path):
    """Check a stride-0 tensor of 2**27 values in 2 KB is refused unbuilt (case 3)."""
    path = tmp_path / "expanded.pt"
    torch.save(
        _affine_state_dict(torch.ones(1).expand(2**27), torch.ones(1).expand(2**27)),
        path,
    )
    assert os.path.getsize(path) < 4096
    _reset_peak_rss()
    before = _peak_rss_mib()
    with pytest.raises(ValueError, match=r"expanded.pt.*storage holds 4 bytes"):
        RevINTransformer.from_checkpoint(path)
    assert _peak_rss_mib() - before < 256


def test_checkpoint_shared_reference_dicts_are_searched_once(tmp_path):
    """Check dicts sharing their values cost their size, not their paths (case 4).

    Five levels of 200 keys all pointing at the level below: the search,
    four levels deep, would walk 200**4 paths without a visited set.
    """
    level = {"leaf": 1.0}
    for _ in range(5):
        level = {f"k{i}": level for i in range(200)}
    path = tmp_path / "dag.pt"
    torch.save({"model": level, "optimizer": level}, path)
    assert os.path.getsize(path) < 32_000

    with pytest.raises(ValueError, match="Found no RevIN layer"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))


def test_checkpoint_hyper_parameter_dag_is_quoted_briefly(tmp_path):
    """Check a list DAG under use_reversible_instance_norm is quoted in bounds (case 5).

    ``x = [x, x]`` forty times is 2**40 leaves when printed whole.
    """
    dag = []
    for _ in range(40):
        dag = [dag, dag]
    path = tmp_path / "darts.ckpt"
    torch.save(
        _lightning(
            {"revin.gamma": torch.full((3, 1), 2.0), "revin.beta": torch.ones(3, 1)}
        )
        | {
            "hyper_parameters": {
                "use_reversible_instance_norm": {"eps": 1e-3, "x": dag}
            }
        },
        path,
    )
    revin = RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))

    assert revin.eps_ == 1e-3
    assert "use_reversible_instance_norm" in revin.settings_origin_["eps"]
    assert len(revin.settings_origin_["eps"]) < 400


def _many_classes(directory, count, base=object, fill=None):
    classes = {f"C{i}": type(f"C{i}", (base,), {}) for i in range(count)}
    path = directory / f"classes_{count}.ckpt"
    with _LookalikeModule("lookalike_many", **classes) as module:
        objects = [getattr(module, f"C{i}")() for i in range(count)]
        if fill is not None:
            for instance in objects:
                fill(instance)
        torch.save(
            _lightning(
                {"revin.gamma": torch.full((3, 1), 2.0), "revin.beta": torch.ones(3, 1)}
            )
            | {"hyper_parameters": {"objects": objects}},
            path,
        )
    return path


def test_checkpoint_thousands_of_class_names_are_refused_at_once(tmp_path):
    """Check 4,000 distinct class names are refused by the pre-scan (case 6)."""
    path = _many_classes(tmp_path, 4000)
    with pytest.raises(ValueError, match=r"classes_4000.ckpt.*more than 512 distinct"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))


def test_checkpoint_hundreds_of_dict_like_classes_load_in_one_pass(
    tmp_path, monkeypatch
):
    """Check 400 classes filled like dicts load with one torch.load (case 6).

    The loader used to learn each container class from torch's error and
    reload the file, once per class.
    """
    path = _many_classes(tmp_path, 400, base=dict, fill=lambda d: d.update(a=1))
    calls = []
    real_load = torch.load
    monkeypatch.setattr(
        torch, "load", lambda *a, **k: calls.append(1) or real_load(*a, **k)
    )

    revin = RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))

    assert_array_equal(revin.gamma_, [2.0, 2.0, 2.0])
    assert len(calls) == 1


def _zip_with_pickle(path, pickle_bytes):
    """A torch.save archive whose data.pkl is replaced by ``pickle_bytes``."""
    torch.save({"revin.gamma": torch.ones(3, 1)}, path)
    with zipfile.ZipFile(path) as archive:
        members = {m.filename: archive.read(m) for m in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, pickle_bytes if name.endswith("data.pkl") else data)


@pytest.mark.parametrize("container", ["zip", "bare"])
def test_checkpoint_object_flood_is_refused_in_bounded_memory(tmp_path, container):
    """Check a pickle of EMPTY_SET opcodes is refused in small memory (case 7).

    Each opcode is one byte and a set of 216 bytes: 1 MiB of them would make
    torch's unpickler allocate over 200 MiB.
    """
    flood = b"\x80\x02" + b"\x8f" * 2**20 + b"."
    assert len(flood) > 2**20
    path = tmp_path / "flood.pt"
    if container == "zip":
        _zip_with_pickle(path, flood)
    else:
        path.write_bytes(flood)

    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"flood.pt.*would allocate more than"):
            RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * os.path.getsize(path)


def test_checkpoint_huge_safetensors_header_is_refused_unparsed(tmp_path):
    """Check a 9 MiB safetensors header is refused before parsing (case 8)."""
    header = json.dumps({"__metadata__": {"notes": "x" * 9 * 2**20}}).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)

    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"model.safetensors.*header is \d+ bytes"):
            RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_checkpoint_zip_declaring_300k_members_is_refused_unlisted(tmp_path):
    """Check a zip whose directory declares 300,000 members is refused (case 8)."""
    path = tmp_path / "members.pt"
    torch.save({"revin.gamma": torch.ones(3, 1)}, path)
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    zip64_locator = data.rfind(b"PK\x06\x07", 0, end)
    if zip64_locator >= 0:
        record = int.from_bytes(data[zip64_locator + 8 : zip64_locator + 16], "little")
        data[record + 24 : record + 40] = (300_000).to_bytes(8, "little") * 2
        data[end + 8 : end + 12] = b"\xff\xff\xff\xff"
    else:
        data[end + 8 : end + 12] = (300_000 % 2**16).to_bytes(2, "little") * 2
    path.write_bytes(bytes(data))

    with pytest.raises(ValueError, match=r"members.pt.*declares 300000 members"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))


def test_checkpoint_fifo_swapped_in_after_the_check_is_never_opened(
    tmp_path, monkeypatch
):
    """Check a FIFO renamed over the file after its check is not read (case 9).

    The file is checked on an open descriptor; a loader that then reopens it
    by name would block on the FIFO forever (a writer thread unblocks it
    after a few seconds, so that the test fails instead of hanging).
    """
    import threading
    import time

    path = tmp_path / "model.pt"
    torch.save(
        {"revin.gamma": torch.full((3, 1), 2.0), "revin.beta": torch.ones(3, 1)}, path
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    real_fstat = os.fstat
    swapped = threading.Event()

    def fstat_then_swap(descriptor):
        status = real_fstat(descriptor)
        if not swapped.is_set():
            swapped.set()
            os.replace(fifo, path)
        return status

    def unblock():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                time.sleep(0.05)
                continue
            return

    monkeypatch.setattr(os, "fstat", fstat_then_swap)
    writer = threading.Thread(target=unblock, daemon=True)
    writer.start()
    revin = RevINTransformer(checkpoint=str(path)).fit(np.ones((2, 3, 4)))
    monkeypatch.undo()

    assert swapped.is_set()
    assert stat.S_ISFIFO(os.stat(path).st_mode)
    assert_array_equal(revin.gamma_, [2.0, 2.0, 2.0])


def _legacy_file_with(path, checkpoint, marker, opcodes):
    """A legacy torch file with the string ``marker`` replaced by ``opcodes``."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer, _use_new_zipfile_serialization=False)
    encoded = marker.encode()
    string = b"X" + len(encoded).to_bytes(4, "little") + encoded
    data = buffer.getvalue()
    assert data.count(string) == 1
    path.write_bytes(data.replace(string, opcodes))


def test_checkpoint_deeply_nested_hyper_parameters_load(tmp_path):
    """Check a 100,000-deep list of hyper-parameters is no RecursionError (case 10)."""
    depth = 100_000
    path = tmp_path / "deep.pt"
    _legacy_file_with(
        path,
        _lightning(
            {"revin.gamma": torch.full((3, 1), 2.0), "revin.beta": torch.ones(3, 1)}
        )
        | {
            "hyper_parameters": {
                "use_reversible_instance_norm": {"eps": 1e-3, "deep": "MARKER"}
            }
        },
        "MARKER",
        b"]" * depth + b"a" * (depth - 1),
    )
    revin = RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))

    assert revin.eps_ == 1e-3
    assert len(revin.settings_origin_["eps"]) < 400


def test_checkpoint_deep_json_metadata_is_a_clear_error(tmp_path):
    """Check deep JSON in safetensors metadata is a ValueError naming the file (10)."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "deep.safetensors"
    safetensors_torch.save_file(
        {"revin.gamma": torch.ones(3, 1), "revin.beta": torch.ones(3, 1)},
        str(path),
        metadata={"hyper_parameters": "[" * 100_000 + "]" * 100_000},
    )
    with pytest.raises(ValueError, match=r"deep.safetensors.*nested too deeply"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))


class _BytesPath:
    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path


@pytest.mark.parametrize("kind", ["zip", "safetensors"])
@pytest.mark.parametrize("given", ["surrogate str", "PathLike of bytes"])
def test_checkpoint_non_utf8_names_are_read(tmp_path, kind, given):
    """Check files whose names are not UTF-8 load (case 11), also via bytes (12)."""
    state_dict = {
        "revin.gamma": torch.full((3, 1), 2.0),
        "revin.beta": torch.ones(3, 1),
    }
    name = os.fsencode(tmp_path) + b"/mod\xff\xfe." + kind.encode()
    if kind == "zip":
        buffer = io.BytesIO()
        torch.save(state_dict, buffer)
        data = buffer.getvalue()
    else:
        data = pytest.importorskip("safetensors.torch").save(state_dict)
    try:
        with open(name, "wb") as file:
            file.write(data)
    except OSError as exc:  # a file system that refuses such names
        pytest.skip(f"cannot create a non-UTF-8 file name here: {exc}")
    checkpoint = os.fsdecode(name) if given == "surrogate str" else _BytesPath(name)

    revin = RevINTransformer(checkpoint=checkpoint).fit(np.ones((2, 3, 4)))

    assert_array_equal(revin.gamma_, [2.0, 2.0, 2.0])


@pytest.mark.parametrize(
    ("make", "word"),
    [
        (lambda: torch.ones(3).to_sparse(), "sparse"),
        (
            lambda: torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.qint8),
            "quantized",
        ),
        (lambda: torch.ones(3, device="meta"), "meta tensor"),
    ],
)
def test_checkpoint_unusable_weight_tensors_name_the_file(tmp_path, make, word):
    """Check sparse, quantized and meta weights are errors naming the file (12)."""
    path = tmp_path / "odd.pt"
    torch.save(_affine_state_dict(make(), make()), path)
    with pytest.raises(ValueError, match=rf"revin.affine_weight.*odd.pt.*{word}"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))


def test_checkpoint_read_error_names_the_file():
    """Check EIO (reading /proc/self/mem) is an OSError naming the file (case 12)."""
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc/self/mem on this system")
    with pytest.raises(OSError, match=r"/proc/self/mem"):
        RevINTransformer(checkpoint="/proc/self/mem").fit(np.ones((2, 3, 4)))


def test_checkpoint_directory_named_like_a_model_file_is_called_a_directory(tmp_path):
    """Check a directory <Model>_0.safetensors in a save directory is named so (12)."""
    (tmp_path / "PatchTST_0.safetensors").mkdir()
    with pytest.raises(ValueError, match=r"PatchTST_0.safetensors' is a directory"):
        RevINTransformer(checkpoint=tmp_path).fit(np.ones((2, 3, 4)))


def test_checkpoint_errors_never_print_the_files_bytes(tmp_path):
    """Check a symlinked model file of unknown format is described, not quoted (13)."""
    secret = tmp_path / "environ"
    secret.write_bytes(b"API_TOKEN=hunter2-not-a-model")
    saved = tmp_path / "nf"
    saved.mkdir()
    (saved / "PatchTST_0.safetensors").symlink_to(secret)

    with pytest.raises(ValueError, match="neither a zip") as excinfo:
        RevINTransformer(checkpoint=saved).fit(np.ones((2, 3, 4)))

    message = str(excinfo.value)
    assert "PatchTST_0.safetensors" in message
    assert "of 29 bytes" in message
    assert "API" not in message
    assert "hunter" not in message


def _writers():
    safetensors_torch = pytest.importorskip("safetensors.torch")
    return {
        "zip": lambda state_dict, path: torch.save(_lightning(state_dict), path),
        "legacy": lambda state_dict, path: torch.save(
            state_dict, path, _use_new_zipfile_serialization=False
        ),
        "safetensors": lambda state_dict, path: safetensors_torch.save_file(
            state_dict, str(path)
        ),
    }


@given(
    gamma=st.lists(st.floats(0.1, 10, allow_nan=False), min_size=2, max_size=2),
    beta=st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=2),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    kind=st.sampled_from(["zip", "legacy", "safetensors"]),
    change=st.sampled_from(["rewrite", "truncate", "delete"]),
    estimator=st.sampled_from(["transformer", "regressor"]),
)
@settings(max_examples=30, deadline=None)
def test_checkpoint_fitted_outputs_survive_the_file(
    gamma, beta, dtype, kind, change, estimator
):
    """Property: a fitted estimator's outputs ignore later changes to its file."""
    import tempfile

    from sklearn.linear_model import Ridge

    from sklearn_revin import RevINRegressor

    write = _writers()[kind]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2, 6))
    Y = rng.normal(size=(12, 2 * 3))
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.ckpt")
        write(
            _affine_state_dict(
                torch.tensor(gamma, dtype=dtype), torch.tensor(beta, dtype=dtype)
            ),
            path,
        )
        if estimator == "transformer":
            fitted = RevINTransformer(checkpoint=path).fit(X)
            outputs = fitted.transform
        else:
            fitted = RevINRegressor(
                Ridge(), n_variates=2, revin=RevINTransformer(checkpoint=path)
            ).fit(X.reshape(12, -1), Y)
            X = X.reshape(12, -1)
            outputs = fitted.predict
        before = outputs(X)

        if change == "rewrite":
            write(_affine_state_dict(-7 * torch.ones(2), 100 * torch.ones(2)), path)
        elif change == "truncate":
            os.truncate(path, 0)
        else:
            os.unlink(path)

        assert_array_equal(outputs(X), before)


def test_checkpoint_legacy_storage_larger_than_the_file_is_refused(tmp_path):
    """Check a legacy file declaring a 4 GiB storage in 1 KB is refused unallocated.

    torch's legacy reader allocates each storage at its declared size before
    reading its bytes from the file.
    """
    buffer = io.BytesIO()
    torch.save(
        {"revin.gamma": torch.ones(3, 1), "revin.beta": torch.ones(3, 1)},
        buffer,
        _use_new_zipfile_serialization=False,
    )
    data, count = re.subn(
        rb"(X\x03\x00\x00\x00cpuq.)K\x03",
        lambda found: found.group(1) + b"J" + (2**30).to_bytes(4, "little"),
        buffer.getvalue(),
        count=1,
        flags=re.DOTALL,
    )
    assert count == 1
    path = tmp_path / "legacy.pt"
    path.write_bytes(data)

    _reset_peak_rss()
    before = _peak_rss_mib()
    with pytest.raises(
        ValueError, match=r"legacy.pt.*storages declare 42949673\d\d bytes"
    ):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))
    assert _peak_rss_mib() - before < 256


def test_checkpoint_every_pickle_of_a_zip_is_scanned(tmp_path):
    """Check a flood hidden in a second data.pkl, behind a benign one, is refused."""
    path = tmp_path / "two.pt"
    torch.save({"revin.gamma": torch.ones(3, 1)}, path)
    with zipfile.ZipFile(path) as archive:
        members = {m.filename: archive.read(m) for m in archive.infolist()}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "benign/data.pkl",
            next(data for name, data in members.items() if name.endswith("data.pkl")),
        )
        for name, data in members.items():
            flood = b"\x80\x02" + b"\x8f" * 2**20 + b"."
            archive.writestr(name, flood if name.endswith("data.pkl") else data)

    with pytest.raises(ValueError, match=r"two.pt.*would allocate more than"):
        RevINTransformer(checkpoint=path).fit(np.ones((2, 3, 4)))
