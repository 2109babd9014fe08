"""Devices and array conversion between NumPy and torch.

The estimators keep their fitted state in NumPy and compute in torch; this
module is the one place that decides on which device, and that moves data
between the two libraries.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["is_tensor", "resolve_device", "to_numpy", "to_tensor"]


def is_tensor(obj) -> bool:
    """Return True for a ``torch.Tensor``."""
    return isinstance(obj, torch.Tensor)


def resolve_device(device, *, like: torch.Tensor | None = None) -> torch.device:
    """Turn the ``device`` parameter of an estimator into a ``torch.device``.

    Parameters
    ----------
    device : "auto", str or torch.device
        ``"auto"`` picks the device of ``like`` when it is given (a tensor is
        computed where it lives), else CUDA when it is available, else the CPU.
        Anything else is passed to ``torch.device`` and must be usable here.
    like : torch.Tensor, optional
        The tensor about to be computed on.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        If ``device`` is not a device name, or names a device this machine
        does not have.
    """
    if isinstance(device, str) and device == "auto":
        if like is not None:
            return like.device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:<index>' or a "
            f"torch.device; got {device!r}."
        ) from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested, but CUDA is not available on "
                "this machine (torch.cuda.is_available() is False). Use "
                "device='cpu' or device='auto'."
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(
                f"device={device!r} was requested, but this machine has {count} "
                "CUDA device(s)."
            )
    elif resolved.type != "cpu":
        try:
            torch.empty(0, device=resolved)
        except (RuntimeError, AssertionError) as exc:
            raise ValueError(
                f"device={device!r} was requested, but it is not available here."
            ) from exc
    return resolved


def to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Return ``array`` as a tensor on ``device``; shares memory on the CPU.

    A read-only array is wrapped too: callers never write into a tensor made
    from an array they were not allowed to write into.
    """
    if array.flags.writeable:
        tensor = torch.from_numpy(array)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The given NumPy array is not writable"
            )
            tensor = torch.from_numpy(array)
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Return a tensor as a NumPy array on the host (no copy for CPU tensors)."""
    return tensor.detach().cpu().numpy()
