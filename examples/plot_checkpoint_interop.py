"""
The RevIN of a trained itransformer model, in scikit-learn
==========================================================

A deep forecasting model with RevIN learns a scale ``gamma`` and a shift
``beta`` per variate. This example trains a small ``iTransformer`` (from the
`itransformer <https://github.com/lucidrains/iTransformer>`_ package) for a
few steps, saves its state dict as any training script would, and then:

1. loads the learned ``gamma`` and ``beta`` into a
   :class:`~sklearn_revin.RevINTransformer` straight from the file;
2. checks that the transformer gives the model's own RevIN numbers, both ways;
3. uses that normalization in a scikit-learn forecaster;
4. goes back: :meth:`~sklearn_revin.RevINTransformer.to_module` returns a
   torch layer that loads into the ``itransformer`` package's ``RevIN``.
"""

# %%
# Train a small iTransformer with a learned RevIN
# -----------------------------------------------
#
# Three US macroeconomic series (real GDP, consumption and investment),
# 16 quarters in, 4 quarters out. ``reversible_instance_norm_affine=True``
# makes the RevIN's ``gamma`` and ``beta`` trainable; a few steps of Adam move
# them away from 1 and 0.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from iTransformer import iTransformer
from iTransformer.revin import RevIN as ReferenceRevIN
from sklearn.linear_model import Ridge

from sklearn_revin import RevINRegressor, RevINTransformer, make_windows
from sklearn_revin.datasets import load_macrodata

torch.manual_seed(0)
series = load_macrodata()[["realgdp", "realcons", "realinv"]]
lookback, horizon = 16, 4
X, Y = make_windows(series.to_numpy(dtype=np.float32), lookback, horizon)
n_windows, n_variates = len(X), series.shape[1]
# make_windows is variate-major: (windows, variates * steps) reshapes to
# (windows, variates, steps), the 3-D layout of torch RevIN layers.
X3 = X.reshape(n_windows, n_variates, lookback)
Y3 = Y.reshape(n_windows, n_variates, horizon)

model = iTransformer(
    num_variates=n_variates,
    lookback_len=lookback,
    pred_length=horizon,
    dim=32,
    depth=1,
    heads=2,
    dim_head=16,
    num_mem_tokens=0,
    num_residual_streams=1,
    use_reversible_instance_norm=True,
    reversible_instance_norm_affine=True,
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
# iTransformer itself takes (batch, time, variates).
inputs = torch.from_numpy(X3).transpose(1, 2)
targets = torch.from_numpy(Y3).transpose(1, 2)
scale = inputs.std(dim=(0, 1), keepdim=True)  # train on a comparable scale per variate
# A model this small gains nothing from several threads: each operation is
# tiny, and waiting for the slowest thread costs more than it saves.
threads = torch.get_num_threads()
torch.set_num_threads(1)
model.train()
for _ in range(50):  # mini-batches of 32 windows
    batch = torch.randint(n_windows, (32,))
    optimizer.zero_grad()
    loss = model(inputs[batch] / scale, targets=targets[batch] / scale)
    loss.backward()
    optimizer.step()
model.eval()
torch.set_num_threads(threads)

layer = model.reversible_instance_norm
print("learned gamma:", layer.gamma.detach().ravel().numpy().round(3))
print("learned beta: ", layer.beta.detach().ravel().numpy().round(3))

# %%
# Save the state dict, as a training script does
# ----------------------------------------------
checkpoint_dir = Path(tempfile.mkdtemp())
checkpoint = checkpoint_dir / "itransformer.pt"
torch.save(model.state_dict(), checkpoint)
print([name for name in model.state_dict() if "instance_norm" in name])

# %%
# Load it into the transformer
# ----------------------------
#
# ``RevINTransformer(checkpoint=...)`` finds the one RevIN layer in the file
# by its parameter names and shapes, and reads it with
# ``torch.load(weights_only=True)``: a checkpoint is data, never code. The
# file is read at ``fit``, which also checks the number of variates.
revin = RevINTransformer(checkpoint=checkpoint).fit(X3)
print("layer found:", revin.checkpoint_key_, "| eps_mode:", revin.eps_mode_)
# A state dict records no eps: the default 1e-5, which itransformer uses too.
print("eps_:", revin.eps_, "from", revin.settings_origin_["eps"])
print("gamma_:", revin.gamma_.round(3))
print("beta_: ", revin.beta_.round(3))

# %%
# The same numbers as the model's own RevIN
# -----------------------------------------
#
# The model's layer takes ``(batch, variates, time)``, the 3-D layout of the
# transformer. Its forward pass and its reverse function agree with
# ``transform`` and ``inverse_transform`` to float32 precision.
windows = torch.from_numpy(X3)
with torch.no_grad():
    normalized_by_model, reverse_fn = layer(windows)
    forecast_z = torch.randn(n_windows, n_variates, horizon)
    back_by_model = reverse_fn(forecast_z)

normalized = revin.transform(X3)
back = revin.inverse_transform(forecast_z.numpy())
print(
    "forward: max |difference| =",
    np.abs(normalized - normalized_by_model.numpy()).max(),
)
print(
    "reverse: max relative difference =",
    (np.abs(back - back_by_model.numpy()) / np.abs(back_by_model.numpy())).max(),
)

# %%
# One window, normalized by the model and by the transformer:

window = 120
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
for v, name in enumerate(series.columns):
    axes[0].plot(X3[window, v], label=name)
    axes[1].plot(normalized_by_model[window, v].numpy(), lw=4, alpha=0.35)
    axes[1].plot(normalized[window, v], "k:", lw=1)
axes[0].set(title=f"window {window}, as it is", xlabel="quarter")
axes[0].legend(fontsize="small")
axes[1].set(title="normalized: model (thick), transformer (dotted)", xlabel="quarter")
fig.tight_layout()

# %%
# The learned normalization in a scikit-learn forecaster
# ------------------------------------------------------
#
# :class:`~sklearn_revin.RevINRegressor` takes the transformer as ``revin``:
# a linear model now forecasts in the normalized space the deep model
# learned. The 2-D windows of :func:`~sklearn_revin.make_windows` are
# variate-major, so ``n_variates`` says how to split each row.
split = int(0.7 * n_windows)
forecaster = RevINRegressor(
    Ridge(alpha=1.0),
    n_variates=n_variates,
    target_variates=0,
    revin=RevINTransformer(checkpoint=checkpoint),
)
gdp = slice(0, horizon)  # the first block of Y is real GDP
forecaster.fit(X[:split], Y[:split, gdp])
error = np.mean((forecaster.predict(X[split:]) - Y[split:, gdp]) ** 2)
print(f"real GDP, 4 quarters ahead: test MSE {error:,.0f}")

# %%
# And back to torch
# -----------------
#
# ``to_module`` returns a :class:`sklearn_revin.nn.RevIN` with ``gamma`` and
# ``beta`` of shape ``(n_variates, 1)``, the names and shapes of the
# ``itransformer`` layer, which loads its state dict as it is.
module = revin.to_module()
reference = ReferenceRevIN(n_variates)
print(reference.load_state_dict(module.state_dict()))
with torch.no_grad():
    print(
        "same output as the model's layer:",
        torch.allclose(reference(windows)[0], normalized_by_model),
    )
