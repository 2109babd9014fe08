"""Export of a model holding sklearn_revin.nn.RevIN: torch.export, ONNX, compile.

The module's forward has no data-dependent Python branch, so a model that
normalizes its input, runs a layer and maps the output back exports with
``torch.export.export``, with both ONNX exporters (dynamo and the TorchScript
one), runs in ONNX Runtime with torch's numbers, and compiles with
``fullgraph=True``. The CUDA variants are skipped where CUDA is missing.
"""

import io
import warnings

import numpy as np
import onnx  # the test extra pins onnx, onnxruntime and onnxscript
import onnxruntime
import pytest
import torch
from numpy.testing import assert_allclose

from sklearn_revin.nn import RevIN

N_VARIATES, N_STEPS, HORIZON = 3, 16, 4

CUDA = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


class Forecaster(torch.nn.Module):
    """RevIN around a linear layer over time, as RLinear / iTransformer use it."""

    def __init__(self, **revin_params):
        super().__init__()
        self.revin = RevIN(N_VARIATES, **revin_params)
        self.linear = torch.nn.Linear(N_STEPS, HORIZON)

    def forward(self, x):
        normalized, reverse_fn = self.revin(x)
        return normalized, reverse_fn(self.linear(normalized))


def _model(device, **revin_params):
    torch.manual_seed(0)
    model = Forecaster(**revin_params)
    with torch.no_grad():
        model.revin.gamma.copy_(torch.tensor([[1.5], [-0.5], [2.0]]))
        model.revin.beta.copy_(torch.tensor([[0.1], [0.0], [-1.0]]))
    return model.to(device).eval()


def _inputs(device, batch=5):
    generator = torch.Generator().manual_seed(1)
    x = 100 + 5 * torch.randn(batch, N_VARIATES, N_STEPS, generator=generator)
    x[0, 1, 3] = float("nan")  # a hole: ignored by the statistics, kept in place
    x[1, 2] = 7.0  # a constant window
    return x.to(device)


def _assert_matches(actual, expected):
    for got, want in zip(actual, expected, strict=True):
        got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got
        assert_allclose(got, want.detach().cpu().numpy(), rtol=1e-6, atol=1e-6)


def _run_onnx(model_bytes, x):
    session = onnxruntime.InferenceSession(
        model_bytes, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.cpu().numpy()})


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("center", ["mean", "last"])
def test_export_torch_export_matches_eager(device, center):
    """Check torch.export.export with a dynamic batch, run on a new batch size."""
    model = _model(device, center=center)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(
        model, (_inputs(device),), dynamic_shapes=({0: batch},)
    )
    x = _inputs(device, batch=7)
    with torch.no_grad():
        _assert_matches(program.module()(x), model(x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("center", ["mean", "last"])
@pytest.mark.parametrize("eps_mode", ["clamp", "add"])
def test_export_onnx_dynamo_runs_in_onnxruntime(device, center, eps_mode):
    """Check torch.onnx.export(dynamo=True) and ONNX Runtime against torch (1e-6)."""
    model = _model(device, center=center, eps_mode=eps_mode)
    x = _inputs(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (x,), dynamo=True, verbose=False)
    onnx.checker.check_model(program.model_proto)
    with torch.no_grad():
        _assert_matches(_run_onnx(program.model_proto.SerializeToString(), x), model(x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("center", ["mean", "last"])
def test_export_onnx_torchscript_runs_in_onnxruntime(device, center):
    """Check the legacy TorchScript exporter (dynamo=False) in ONNX Runtime."""
    model = _model(device, center=center)
    x = _inputs(device)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            buffer,
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch"}},
        )
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()))
    x = _inputs(device, batch=6)
    with torch.no_grad():
        _assert_matches(_run_onnx(buffer.getvalue(), x), model(x))


@pytest.mark.parametrize(
    ("device", "backend"),
    [
        ("cpu", "inductor"),  # generated C++ code (about 30 s on 2 cores)
        pytest.param("cuda", "aot_eager", marks=CUDA),
    ],
)
def test_export_compile_fullgraph_matches_eager(device, backend):
    """Check torch.compile(fullgraph=True): no graph break, eager's numbers."""
    torch._dynamo.reset()
    model = _model(device)
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    x = _inputs(device)
    with torch.no_grad():
        _assert_matches(compiled(x), model(x))


@pytest.mark.parametrize("device", DEVICES)
def test_export_compile_fullgraph_trains_through_nan(device):
    """Check a compiled training step: RevIN's gradients finite with a NaN hole."""
    torch._dynamo.reset()
    model = _model(device).train()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    normalized, forecast = compiled(_inputs(device))
    assert torch.isnan(forecast[0, 1]).all()  # the window with the hole
    loss = sum(out[~out.isnan()].square().sum() for out in (normalized, forecast))
    loss.backward()
    # The linear layer's weight sees the NaN input itself; RevIN's do not.
    for parameter in model.revin.parameters():
        assert torch.isfinite(parameter.grad).all()
    assert np.isnan(normalized[0, 1, 3].item())
