"""Figure: a series, three of its windows, and the same windows after RevIN."""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_revin import RevINTransformer

rng = np.random.default_rng(0)
t = np.arange(240)
series = 0.25 * t + 8 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.8, t.size)
window = 48
starts = [12, 84, 180]  # whole seasons apart: the same shape at three levels
X = np.stack([series[start : start + window] for start in starts])  # a window per row

Z = RevINTransformer().fit_transform(X)  # each row by its own mean and scale

colors = ["tab:blue", "tab:orange", "tab:green"]
fig = plt.figure(figsize=(8, 5))
top = fig.add_subplot(2, 1, 1)
top.plot(t, series, color="0.65", lw=1)
for start, row, color in zip(starts, X, colors, strict=True):
    top.plot(t[start : start + window], row, color=color, lw=2)
top.set(title="A series with a trend, and three of its windows", xlabel="time step")
raw = fig.add_subplot(2, 2, 3)
normalized = fig.add_subplot(2, 2, 4)
for row, z, color in zip(X, Z, colors, strict=True):
    raw.plot(row, color=color)
    normalized.plot(z, color=color)
raw.set(title="the windows, as they are", xlabel="step in window")
normalized.set(title="after RevIN: the same shape", xlabel="step in window")
fig.tight_layout()
