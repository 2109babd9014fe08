"""Checkpoints of real neuralforecast, darts and tsai models, saved as users save them.

Each library trains a tiny model for a step or two (``pip install
".[interop]"`` from a clone, see ``.ci/run``), saves it with its own save call,
and the file is loaded with this package. The transformer's numbers are then
compared with the library's own RevIN layer, taken from the trained model, on
windows of large and of near-constant variance (where eps matters), in
float64.

Without the libraries the tests skip, each library on its own; with
``SKLEARN_REVIN_REQUIRE_INTEROP=1`` (as ``.ci/run`` sets it) a missing library
is an error instead of a skip.
"""

import importlib
import logging
import os
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from sklearn_revin import RevINTransformer

pytestmark = pytest.mark.filterwarnings("ignore")  # the libraries' own warnings

N_VARIATES, LOOKBACK, HORIZON = 3, 16, 4


def _library(name):
    if os.environ.get("SKLEARN_REVIN_REQUIRE_INTEROP") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture(autouse=True, scope="module")
def _quiet():
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def _windows(seed, n_variates=N_VARIATES, n_instances=5):
    """(n, V, T) float64 windows: large variance, and near-constant ones."""
    rng = np.random.RandomState(seed)
    large = rng.randn(n_instances, n_variates, LOOKBACK) * 1e3 + 50.0
    constant = 7.0 + 1e-7 * rng.randn(n_instances, n_variates, LOOKBACK)
    return np.concatenate([large, constant])


def _model_output(seed, X):
    rng = np.random.RandomState(seed + 1)
    return rng.randn(X.shape[0], X.shape[1], HORIZON)


def _check_against_layer(revin, normalize, denormalize, X):
    """Compare the fitted transformer with the library's layer on X, both ways.

    ``normalize(X) -> Z`` and ``denormalize(Y) -> X_back`` run the library's
    layer in (n, V, T) layout; ``denormalize`` uses the statistics of the last
    ``normalize`` call, as the libraries do.

    The arithmetic is the same up to rounding: the two compute a window's mean
    in other orders, a few ulps of the window's values apart, and the
    normalized values carry that difference divided by the window's scale
    (for tsai's ``std + eps``, about 1e-5 on a near-constant window).
    """
    Z = revin.fit(X).transform(X)
    magnitude = np.abs(X).max(axis=-1, keepdims=True)
    rounding = 16 * np.finfo(np.float64).eps * magnitude
    _assert_close(Z, normalize(X), 1e-12 + rounding / revin.scale_[..., None])
    Y = _model_output(0, X)
    _assert_close(revin.inverse_transform(Y), denormalize(Y), 1e-12 * magnitude)


def _assert_close(ours, theirs, atol):
    """Check ``|ours - theirs| <= 1e-12 |theirs| + atol``, atol per window."""
    assert ours.shape == theirs.shape
    excess = np.abs(ours - theirs) - 1e-12 * np.abs(theirs) - atol
    assert np.all(excess <= 0), f"off by up to {excess.max():.3g} beyond tolerance"


def _layer_in_float64(layer):
    layer = layer.double()
    layer.eval()
    return layer


def _btc(function):
    """Run a (batch, time, channels) layer function on (n, V, T) arrays."""

    def run(array):
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(0, 2, 1)))
        with torch.no_grad():
            return function(tensor).numpy().transpose(0, 2, 1)

    return run


# ----------------------------------------------------------------- neuralforecast


@pytest.fixture(scope="module")
def neuralforecast_models(tmp_path_factory):
    """Train TSMixer, PatchTST (subtract_last True, False), TimeMixer; save them."""
    _library("neuralforecast")
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast.models import PatchTST, TimeMixer, TSMixer

    path = tmp_path_factory.mktemp("neuralforecast")
    rng = np.random.RandomState(0)
    n_steps = 64
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i}" for i in range(N_VARIATES)], n_steps),
            "ds": np.tile(np.arange(n_steps), N_VARIATES),
            "y": rng.randn(N_VARIATES * n_steps).cumsum() + 10.0,
        }
    )
    common = dict(
        h=HORIZON,
        input_size=LOOKBACK,
        max_steps=2,
        accelerator="cpu",
        enable_progress_bar=False,
        logger=False,
        enable_model_summary=False,
        learning_rate=0.05,  # so that the affine moves off 1 and 0
    )
    patchtst = dict(
        revin=True,
        revin_affine=True,
        patch_len=4,
        stride=4,
        hidden_size=8,
        n_heads=2,
        encoder_layers=1,
        linear_hidden_size=8,
    )
    models = {
        "TSMixer": TSMixer(n_series=N_VARIATES, revin=True, **common),
        "PatchTST_last": PatchTST(
            revin_subtract_last=True,
            enable_checkpointing=True,
            default_root_dir=str(path / "lightning"),
            **patchtst,
            **common,
        ),
        "PatchTST_mean": PatchTST(revin_subtract_last=False, **patchtst, **common),
        "TimeMixer": TimeMixer(n_series=N_VARIATES, **common),
    }
    nf = NeuralForecast(models=list(models.values()), freq=1)
    nf.fit(frame)
    # fit trains copies: the trained models are nf.models, in the same order.
    models = dict(zip(models, nf.models, strict=True))
    assert float(models["PatchTST_last"].model.revin_layer.affine_weight) != 1.0
    files = {}
    for name, model in models.items():
        files[name] = path / f"{name}.ckpt"
        model.save(str(files[name]))  # safetensors bytes under a .ckpt name
    nf.save(str(path / "saved"), overwrite=True)
    single = NeuralForecast(models=[TSMixer(n_series=N_VARIATES, **common)], freq=1)
    single.fit(frame)
    single.save(str(path / "saved_single"), overwrite=True)
    (files["lightning"],) = (path / "lightning").rglob("*.ckpt")
    return models, files, path, single.models[0]


def _nf_layer(layer):
    layer = _layer_in_float64(layer)
    return _btc(lambda x: layer(x, "norm")), _btc(lambda y: layer(y, "denorm"))


@pytest.mark.parametrize("name", ["PatchTST_last", "PatchTST_mean"])
def test_neuralforecast_patchtst_save_matches_its_revin(neuralforecast_models, name):
    """Check model.save of PatchTST loads with its subtract_last and its inverse."""
    models, files, _, _ = neuralforecast_models
    revin = RevINTransformer(checkpoint=files[name], inverse="source")

    # neuralforecast's PatchTST is channel independent: one variate a layer.
    layer = models[name].model.revin_layer
    _check_against_layer(revin, *_nf_layer(layer), _windows(1, n_variates=1))
    assert revin.checkpoint_key_ == "model.revin_layer"
    assert revin.center_ == ("last" if name == "PatchTST_last" else "mean")
    assert "revin_subtract_last" in revin.settings_origin_["center"]
    assert revin.eps_mode_ == "add"
    assert revin.inverse_ == "eps_squared"


def test_neuralforecast_patchtst_default_inverse_is_exact(neuralforecast_models):
    """Check the default inverse is the exact inverse, off the layer by eps**2."""
    models, files, _, _ = neuralforecast_models
    X = _windows(2, n_variates=1)
    revin = RevINTransformer(checkpoint=files["PatchTST_last"]).fit(X)

    assert_allclose(revin.inverse_transform(revin.transform(X)), X, rtol=1e-12)
    normalize, denormalize = _nf_layer(models["PatchTST_last"].model.revin_layer)
    normalize(X)  # the layer keeps the statistics for its way back
    Y = _model_output(0, X)
    assert revin.inverse_ == "exact"
    assert_allclose(revin.inverse_transform(Y), denormalize(Y), rtol=1e-8)
    assert not np.array_equal(revin.inverse_transform(Y), denormalize(Y))


def test_neuralforecast_lightning_trainer_checkpoint(neuralforecast_models):
    """Check the .ckpt Lightning's trainer writes during fit loads, loss and all."""
    models, files, _, _ = neuralforecast_models
    revin = RevINTransformer(checkpoint=files["lightning"], inverse="source")

    layer = models["PatchTST_last"].model.revin_layer
    _check_against_layer(revin, *_nf_layer(layer), _windows(3, n_variates=1))
    assert revin.center_ == "last"
    assert "hyper_parameters" in revin.settings_origin_["center"]


def test_neuralforecast_tsmixer_revin_multivariate(neuralforecast_models):
    """Check TSMixer's RevINMultivariate: (1, 1, V) parameters, exact inverse."""
    models, files, _, _ = neuralforecast_models
    revin = RevINTransformer(checkpoint=files["TSMixer"], inverse="source")

    _check_against_layer(revin, *_nf_layer(models["TSMixer"].norm), _windows(4))
    assert revin.checkpoint_key_ == "norm"
    assert revin.inverse_ == "exact"


def test_neuralforecast_timemixer_one_layer_per_scale(neuralforecast_models):
    """Check TimeMixer's normalize_layers ask for a key, and the first one loads."""
    models, files, _, _ = neuralforecast_models
    with pytest.raises(ValueError, match="RevIN layers"):
        RevINTransformer(checkpoint=files["TimeMixer"]).fit(_windows(5))

    revin = RevINTransformer(
        checkpoint=files["TimeMixer"],
        checkpoint_key="normalize_layers.0",
        inverse="source",
    )
    layer = models["TimeMixer"].normalize_layers[0]
    _check_against_layer(revin, *_nf_layer(layer), _windows(5))


def test_neuralforecast_save_directory(neuralforecast_models):
    """Check a NeuralForecast.save directory: its one model, or a list of them."""
    _, _, path, single = neuralforecast_models
    revin = RevINTransformer(checkpoint=path / "saved_single", inverse="source")
    _check_against_layer(revin, *_nf_layer(single.norm), _windows(6))

    with pytest.raises(ValueError, match=r"holds 4 model files: PatchTST_\d"):
        RevINTransformer(checkpoint=path / "saved").fit(_windows(6))


def test_neuralforecast_module_in_memory(neuralforecast_models):
    """Check the trained module itself records its subtract_last and eps."""
    models, _, _, _ = neuralforecast_models
    model = models["PatchTST_last"]
    revin = RevINTransformer(checkpoint=model, inverse="source")

    layer = model.model.revin_layer
    _check_against_layer(revin, *_nf_layer(layer), _windows(7, n_variates=1))
    assert revin.settings_origin_ == {
        "eps": "checkpoint (the module's model.revin_layer.eps)",
        "center": "checkpoint (the module's model.revin_layer.subtract_last=True)",
    }


def test_neuralforecast_contradicting_center_warns(neuralforecast_models):
    """Check a center contradicting the recorded subtract_last warns, naming both."""
    _, files, _, _ = neuralforecast_models
    revin = RevINTransformer(checkpoint=files["PatchTST_last"], center="mean")
    with pytest.warns(UserWarning, match=r"center='mean' was given.*'last'"):
        revin.fit(_windows(8, n_variates=1))
    assert revin.center_ == "mean"
    assert revin.settings_origin_["center"] == "parameter"


# ------------------------------------------------------------------------ darts


@pytest.fixture(scope="module")
def darts_models(tmp_path_factory):
    """Train TiDE (RINorm eps=1e-3) and NLinear with RevIN; save them."""
    _library("darts")
    from darts import TimeSeries
    from darts.models import NLinearModel, TiDEModel

    path = tmp_path_factory.mktemp("darts")
    rng = np.random.RandomState(0)
    series = TimeSeries.from_values(rng.randn(64, N_VARIATES).cumsum(0))
    common = dict(
        input_chunk_length=LOOKBACK,
        output_chunk_length=HORIZON,
        n_epochs=1,
        batch_size=16,
        optimizer_kwargs={"lr": 0.05},
        pl_trainer_kwargs={
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "logger": False,
            "enable_model_summary": False,
        },
    )
    tide = TiDEModel(
        use_reversible_instance_norm={"eps": 1e-3},
        save_checkpoints=True,
        work_dir=str(path),
        model_name="tide",
        force_reset=True,
        **common,
    )
    tide.fit(series)
    tide.save(str(path / "tide.pt"))
    nlinear = NLinearModel(use_reversible_instance_norm=True, **common)
    nlinear.fit(series)
    nlinear.save(str(path / "nlinear.pt"))
    unfitted = NLinearModel(use_reversible_instance_norm=True, **common)
    return {"tide": tide, "nlinear": nlinear, "unfitted": unfitted}, path


def _darts_layer(rin):
    rin = _layer_in_float64(rin)
    normalize = _btc(rin)
    # RINorm.inverse takes (batch, horizon, targets, nr_params).
    denormalize = _btc(lambda y: rin.inverse(y.unsqueeze(-1)).squeeze(-1))
    return normalize, denormalize


@pytest.mark.parametrize(
    "where",
    ["model.save .ckpt", "save_checkpoints .ckpt"],
)
def test_darts_tide_files_match_rinorm_with_its_eps(darts_models, where):
    """Check darts' TiDE files load with the RINorm eps darts stores (1e-3)."""
    models, path = darts_models
    if where == "model.save .ckpt":
        checkpoint = path / "tide.pt.ckpt"
    else:
        (checkpoint,) = (path / "tide" / "checkpoints").glob("*.ckpt")
    revin = RevINTransformer(checkpoint=checkpoint, inverse="source")

    _check_against_layer(revin, *_darts_layer(models["tide"].model.rin), _windows(9))
    assert revin.checkpoint_key_ == "rin"
    assert revin.eps_ == 1e-3
    assert "use_reversible_instance_norm" in revin.settings_origin_["eps"]


def test_darts_nlinear_and_the_model_object(darts_models):
    """Check NLinear's .ckpt, and the darts model object passed as checkpoint."""
    models, path = darts_models
    from_file = RevINTransformer(checkpoint=path / "nlinear.pt.ckpt", inverse="source")
    _check_against_layer(
        from_file, *_darts_layer(models["nlinear"].model.rin), _windows(10)
    )
    assert from_file.settings_origin_["eps"] == "default"

    tide = RevINTransformer(checkpoint=models["tide"], inverse="source")
    _check_against_layer(tide, *_darts_layer(models["tide"].model.rin), _windows(10))
    assert tide.settings_origin_["eps"] == "checkpoint (the module's rin.eps)"


def test_darts_files_without_weights_point_at_them(darts_models):
    """Check model.save's .pt and _model.pth.tar name the file with the weights."""
    models, path = darts_models
    with pytest.raises(ValueError, match=r"holds a NLinearModel.*nlinear\.pt\.ckpt"):
        RevINTransformer(checkpoint=path / "nlinear.pt").fit(_windows(11))
    with pytest.raises(ValueError, match=r"holds a TiDEModel.*pass one of \['last"):
        RevINTransformer(checkpoint=path / "tide" / "_model.pth.tar").fit(_windows(11))
    with pytest.raises(ValueError, match=r"NLinearModel whose \.model is None"):
        RevINTransformer(checkpoint=models["unfitted"]).fit(_windows(11))


# ------------------------------------------------------------------------- tsai


@pytest.fixture(scope="module")
def tsai_learner(tmp_path_factory):
    """Train tsai's PatchTST with fastai's Learner; learn.save it.

    tsai's own ``tsai.learner`` imports ``fastai.vision``, which needs
    torchvision, whose PyPI wheels need the CUDA build of torch (see the
    interop extra in pyproject.toml): the Learner is fastai's, the model and
    its RevIN tsai's, and ``learn.save`` the same call.
    """
    _library("tsai")
    from fastai.callback.schedule import fit_one_cycle  # noqa: F401 (patches)
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from tsai.models.PatchTST import PatchTST

    path = tmp_path_factory.mktemp("tsai")
    rng = np.random.RandomState(0)
    X = torch.tensor(rng.randn(32, N_VARIATES, LOOKBACK), dtype=torch.float32)
    y = torch.tensor(rng.randn(32, N_VARIATES, HORIZON), dtype=torch.float32)
    data = list(zip(X, y, strict=True))
    learners = {}
    for subtract_last in (False, True):
        torch.manual_seed(0)
        model = PatchTST(
            c_in=N_VARIATES,
            c_out=N_VARIATES,
            seq_len=LOOKBACK,
            pred_dim=HORIZON,
            n_layers=1,
            d_model=8,
            n_heads=2,
            d_ff=8,
            patch_len=4,
            stride=4,
            revin=True,
            affine=True,
            subtract_last=subtract_last,
        )
        dls = DataLoaders.from_dsets(data, data, bs=16, device="cpu")
        learn = Learner(dls, model, loss_func=torch.nn.MSELoss(), path=path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            learn.fit_one_cycle(1, lr_max=0.05)
        learners[subtract_last] = (learn, learn.save(f"patchtst_{subtract_last}"))
    return learners


def _tsai_layer(layer):
    layer = _layer_in_float64(layer)

    def run(function):
        def on_arrays(array):
            with torch.no_grad():
                return function(torch.from_numpy(array)).numpy()

        return on_arrays

    # tsai's RevIN takes (batch, variates, steps), the layout here.
    return (
        run(lambda x: layer(x, torch.tensor(True))),
        run(lambda y: layer(y, torch.tensor(False))),
    )


@pytest.mark.parametrize("subtract_last", [False, True])
def test_tsai_learn_save_matches_its_revin(tsai_learner, subtract_last):
    """Check tsai's learn.save file: weight/bias (1, V, 1), std + eps."""
    learn, saved = tsai_learner[subtract_last]
    # learn.save records no subtract_last: pass it (center="auto" is "mean").
    center = "last" if subtract_last else "auto"
    revin = RevINTransformer(checkpoint=saved, center=center, inverse="source")

    layer = learn.model.model.revin_layer
    _check_against_layer(revin, *_tsai_layer(layer), _windows(12))
    assert revin.checkpoint_key_ == "model.revin_layer"
    assert revin.eps_mode_ == "add_std"
    assert revin.inverse_ == "exact"


def test_tsai_module_records_subtract_last(tsai_learner):
    """Check tsai's model passed as checkpoint gives its subtract_last and eps."""
    learn, _ = tsai_learner[True]
    revin = RevINTransformer(checkpoint=learn.model)

    _check_against_layer(
        revin, *_tsai_layer(learn.model.model.revin_layer), _windows(13)
    )
    assert revin.center_ == "last"
    assert revin.eps_ == 1e-5
