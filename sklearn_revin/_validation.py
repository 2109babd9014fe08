"""Checks of input the estimators receive beyond what ``check_array`` does.

Each check raises ``ValueError`` naming what was expected and what came
(``TypeError`` for a kind of data RevIN does not take, as scikit-learn does
for sparse input). They take NumPy arrays and tensors alike (a tensor is
checked on its device).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "FLOAT_DTYPES",
    "check_dense_tensor",
    "check_no_self_overlap",
    "check_statistics_values",
    "check_window_axes",
    "is_checked_float_array",
]

# The dtypes the estimators compute in; other input is converted to float64.
FLOAT_DTYPES = (np.float64, np.float32)


def is_checked_float_array(X, *, writeable: bool) -> bool:
    """Whether ``check_array`` would return X as it is, with nothing to check.

    That is a NumPy array (not a subclass) of float32 or float64 in native
    byte order, 2-D or 3-D, not empty, and writeable where ``writeable``
    asks it. The estimators then skip ``check_array`` (``validate_data``'s
    ``skip_check_array=True`` still checks the feature count and names): on
    a 32 MB ``transform`` its calls cost a tenth of the work (with caches
    cold after the data passed through them). Anything else goes through
    ``check_array``, with its conversions and error messages.
    """
    return (
        type(X) is np.ndarray
        and X.ndim in (2, 3)
        and X.size > 0
        and (X.dtype == np.float32 or X.dtype == np.float64)
        and (X.flags.writeable or not writeable)
    )


def check_dense_tensor(X, *, name: str = "X") -> None:
    """Refuse a torch tensor that holds no dense real numbers; others pass.

    Sparse layouts (COO, CSR, CSC, BSR, BSC) and quantized tensors would
    reach torch or NumPy and fail there with errors about reshape or
    ``is_contiguous``; complex tensors have no order for the statistics.
    """
    if not isinstance(X, torch.Tensor):
        return
    if X.layout != torch.strided:
        raise TypeError(
            f"{name} is a sparse torch tensor (layout {X.layout}, shape "
            f"{tuple(X.shape)}), but RevIN needs dense data: a strided tensor, "
            f"an array or a data frame of windows. Pass {name}.to_dense()."
        )
    if X.is_quantized:
        raise TypeError(
            f"{name} is a quantized torch tensor (dtype {X.dtype}), but RevIN "
            f"needs real numbers: pass {name}.dequantize()."
        )
    if X.is_complex():
        raise ValueError(f"Complex data not supported; {name} has dtype {X.dtype}.")


def check_window_axes(X, *, name: str = "X") -> None:
    """Refuse 2-D X with no column and 3-D X with no variate or no step.

    ``check_array`` refuses a NumPy array of 0 columns, not a tensor, and
    neither refuses 3-D input with 0 steps: each would be accepted and give
    empty statistics.
    """
    shape = tuple(X.shape)
    if len(shape) >= 2 and shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={shape}) while a minimum of "
            f"1 is required ({name})."
        )
    if len(shape) == 3 and shape[2] == 0:
        raise ValueError(
            f"Found array with 0 step(s) (shape={shape}) while a minimum of 1 "
            f"is required ({name}: layout (n_instances, n_variates, n_steps))."
        )


def _may_self_overlap(shape, strides) -> bool:
    """Return True unless the strides prove that no two elements share memory.

    Sorting the axes by stride, each stride must exceed the farthest offset
    the smaller axes reach; an expanded axis (stride 0) or rows that overlap
    (``as_strided``) fail. A few exotic non-overlapping layouts fail too:
    refused, never written wrongly.
    """
    extent = 0
    axes = sorted(
        (abs(stride), size)
        for size, stride in zip(shape, strides, strict=True)
        if size > 1
    )
    for stride, size in axes:
        if stride <= extent:
            return True
        extent += stride * (size - 1)
    return False


def check_no_self_overlap(X, *, name: str = "X") -> None:
    """Refuse to write into X (``copy=False``) when its elements share memory.

    Writing the result into an expanded tensor fails inside torch, and into a
    writable self-overlapping view gives wrong values silently.
    """
    if isinstance(X, torch.Tensor):
        shape, strides = tuple(X.shape), X.stride()
    elif isinstance(X, np.ndarray):
        shape, strides = X.shape, X.strides
    else:
        return
    if _may_self_overlap(shape, strides):
        raise ValueError(
            f"copy=False writes the result into {name}, but {name} (shape "
            f"{tuple(shape)}, strides {tuple(strides)}) is a view whose elements "
            "share memory (from expand(), broadcast_to() or as_strided()): "
            "writing into it would give wrong values. Pass copy=True, or a copy "
            f"of {name} (.clone() / .copy())."
        )


def check_statistics_values(name: str, values) -> None:
    """Check caller-supplied statistics: real, finite mean, positive finite scale.

    NaN is allowed in both, as :meth:`RevINTransformer.instance_statistics`
    gives for a window with no observed value (its outputs are then NaN).
    """
    if isinstance(values, torch.Tensor):
        complex_ = values.is_complex()
        dtype = values.dtype
    else:
        complex_ = np.iscomplexobj(values)
        dtype = values.dtype
    if complex_:
        raise ValueError(
            f"Complex data not supported; statistics.{name} has dtype {dtype}."
        )
    if isinstance(values, torch.Tensor):
        if not values.is_floating_point():
            values = values.double()
        n_infinite = int(torch.isinf(values).sum())
        n_non_positive = int((values <= 0).sum())
    else:
        values = np.asarray(values, dtype=np.float64)
        n_infinite = int(np.isinf(values).sum())
        n_non_positive = int((values <= 0).sum())
    if n_infinite:
        raise ValueError(
            f"statistics.{name} must be finite (NaN is allowed, for a window "
            f"with no observed value); got {n_infinite} infinite value(s)."
        )
    if name == "scale" and n_non_positive:
        raise ValueError(
            f"statistics.scale must be positive (it divides); got "
            f"{n_non_positive} value(s) <= 0."
        )
