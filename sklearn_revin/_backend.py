"""Devices and array conversion between NumPy and torch.

The estimators keep their fitted state in NumPy and compute in torch; this
module is the one place that decides on which device, and that moves data
between the two libraries.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
from sklearn import get_config

from ._threads import scoped_threads

__all__ = [
    "array_api_tensors",
    "as_tensor_like",
    "check_array_namespace",
    "check_holds_data",
    "empty",
    "empty_like",
    "from_host",
    "is_tensor",
    "plan_row_chunks",
    "resolve_device",
    "run_on_device",
    "shares_memory",
    "stream_rows",
    "to_host",
    "to_numpy",
    "to_tensor",
    "torch_can_view",
]


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def empty_like(tensor: torch.Tensor) -> torch.Tensor:
    """Return an uninitialized contiguous tensor of ``tensor``'s shape, dtype, device.

    On the CPU the memory comes from NumPy, whose allocator asks the kernel for
    transparent huge pages on large arrays: the first write into a 200 MB
    output then takes ~100 page faults instead of ~50,000, which is most of
    the cost of a fresh torch allocation (several times a copy of the data on
    some machines). The tensor is an ordinary tensor; ``.numpy()`` gives the
    array back without a copy.
    """
    numpy_dtype = _NUMPY_DTYPES.get(tensor.dtype)
    if tensor.device.type == "cpu" and numpy_dtype is not None:
        return torch.from_numpy(np.empty(tuple(tensor.shape), dtype=numpy_dtype))
    return torch.empty_like(tensor, memory_format=torch.contiguous_format)


def empty(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Return an uninitialized tensor; on the CPU from NumPy (see :func:`empty_like`).

    For large per-window statistics: a fresh torch allocation of 160 MB takes
    ~40,000 page faults on its first write.
    """
    numpy_dtype = _NUMPY_DTYPES.get(dtype)
    if torch.device(device).type == "cpu" and numpy_dtype is not None:
        return torch.from_numpy(np.empty(tuple(shape), dtype=numpy_dtype))
    return torch.empty(shape, dtype=dtype, device=device)


def as_tensor_like(values, like: torch.Tensor) -> torch.Tensor:
    """Return NumPy ``values`` (or a tensor) with ``like``'s dtype and device.

    Small per-variate parameters are converted on each call; on the CPU this
    goes through NumPy, a few times cheaper than ``torch.as_tensor(...).to``.
    """
    numpy_dtype = _NUMPY_DTYPES.get(like.dtype)
    if like.device.type == "cpu" and numpy_dtype is not None and not is_tensor(values):
        return _from_numpy(np.asarray(values, dtype=numpy_dtype))
    if not is_tensor(values):
        values = _viewable(np.asarray(values))
    return torch.as_tensor(values).to(device=like.device, dtype=like.dtype)


def is_tensor(obj) -> bool:
    """Return True for a ``torch.Tensor``."""
    return isinstance(obj, torch.Tensor)


def resolve_device(device, *, like: torch.Tensor | None = None) -> torch.device:
    """Turn the ``device`` parameter of an estimator into a ``torch.device``.

    Parameters
    ----------
    device : "auto", str or torch.device
        ``"auto"`` picks per call: the device of ``like`` when it is given (a
        tensor is computed where it lives, with no transfer), else the CPU
        (see Notes). Anything else is passed to ``torch.device`` and must be
        usable here.
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

    Notes
    -----
    Host (NumPy) data stays on the CPU under ``"auto"``, whatever its size.
    RevIN is memory bound: on the CPU it costs about one copy of the data in
    host memory. On a GPU the same data must cross the bus twice (in and out)
    and still be read and written in host memory by those transfers, so the
    GPU path cannot beat the CPU path for data that starts and ends on the
    host; it only pays off for tensors that already live on the GPU, which
    ``"auto"`` computes there.
    """
    if isinstance(device, str) and device == "auto":
        if like is not None:
            return like.device
        return torch.device("cpu")
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
    elif resolved.type == "meta":
        check_holds_data(resolved, f"device={device!r}")
    elif resolved.type != "cpu":
        try:
            torch.empty(0, device=resolved)
        except (RuntimeError, AssertionError) as exc:
            raise ValueError(
                f"device={device!r} was requested, but it is not available here."
            ) from exc
    return resolved


def check_holds_data(device: torch.device, what: str) -> None:
    """Raise ValueError for the meta device, which has shapes but no values."""
    if device.type == "meta":
        raise ValueError(
            f"{what} is 'meta', which holds shapes but no values: RevIN computes "
            "statistics of the values. Use device='cpu', 'cuda' or 'auto' with "
            "data on a real device."
        )


def torch_can_view(array: np.ndarray) -> bool:
    """Return True if torch can wrap ``array`` without copying it.

    ``torch.from_numpy`` refuses negative strides (a reversed view such as
    ``X[::-1]``, skforecast's lag matrix), strides that are not a multiple of
    the item size (a field of a structured array) and non-native byte order;
    any other strided array (a slice, a transpose, Fortran order, a
    broadcast) is viewed as it is.
    """
    itemsize = array.itemsize
    return array.dtype.isnative and all(
        stride >= 0 and stride % itemsize == 0 for stride in array.strides
    )


def _viewable(array: np.ndarray) -> np.ndarray:
    """Return ``array`` itself if torch can view it, else a C-contiguous copy."""
    if torch_can_view(array):
        return array
    # Not np.ascontiguousarray: it returns an array that is C-contiguous with
    # a negative stride on an axis of length 1 as it is.
    return np.array(array, dtype=array.dtype.newbyteorder("="), order="C", copy=True)


def _from_numpy(array: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` of any strided array: a view where torch can view it.

    A read-only array is wrapped too, without torch's warning: callers never
    write into a tensor made from an array they were not allowed to write into.
    """
    array = _viewable(array)
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The given NumPy array is not writable"
        )
        return torch.from_numpy(array)


def to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Return ``array`` as a tensor on ``device``.

    On the CPU the tensor shares ``array``'s memory whenever torch can view it
    (see :func:`torch_can_view`), and is a copy otherwise: writing into the
    tensor then does not write into ``array``, which :func:`run_on_device`
    makes up for by copying its result back. A read-only array is wrapped
    too: callers never write into a tensor made from an array they were not
    allowed to write into.
    """
    tensor = _from_numpy(array)
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        if tensor.is_contiguous():
            pinned = tensor.pin_memory()
        else:  # one pass gathers the strided data into the pinned buffer
            pinned = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
            pinned.copy_(tensor)
        return pinned.to(device, non_blocking=True)
    return tensor.to(device)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Return a tensor as a NumPy array on the host (no copy for CPU tensors)."""
    return tensor.detach().cpu().numpy()


def to_host(value):
    """Return a tensor as a NumPy array on the host; anything else as it is."""
    return to_numpy(value) if is_tensor(value) else value


def from_host(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Return a NumPy result as a tensor on ``like``'s device, keeping its dtype."""
    return _from_numpy(np.asarray(array)).to(like.device)


def check_array_namespace(*arrays, estimator: str) -> None:
    """Refuse, under array API dispatch, arrays that are neither NumPy nor torch.

    Under ``sklearn.set_config(array_api_dispatch=True)`` scikit-learn's
    validation keeps an array in its own namespace (CuPy, JAX,
    array-api-strict...), where the NumPy dtypes passed to it fail with an
    obscure TypeError; this names the supported kinds instead. With dispatch
    off, scikit-learn converts such arrays with ``np.asarray``.

    Raises
    ------
    TypeError
        For an array of another array API namespace, under dispatch.
    """
    if not get_config()["array_api_dispatch"]:
        return
    for array in arrays:
        if isinstance(array, np.ndarray) or is_tensor(array):
            continue
        if hasattr(array, "__array_namespace__"):
            kind = f"{type(array).__module__}.{type(array).__qualname__}"
            raise TypeError(
                f"{estimator} takes NumPy arrays or torch tensors under "
                f"array_api_dispatch=True; got {kind}. Convert it with "
                "numpy.asarray or torch.asarray, or turn array_api_dispatch off."
            )


def array_api_tensors(*arrays, estimator: str) -> bool:
    """Return True if scikit-learn's array API dispatch is on and a tensor is given.

    Under dispatch, scikit-learn's validation keeps a tensor a tensor, so that
    it would reach code written for NumPy; an estimator that gets True here
    computes on the host arrays instead (see :func:`to_host`) and returns
    tensors. NumPy arrays, lists and frames give False, as does everything
    when dispatch is off (scikit-learn then converts with ``np.asarray``).
    Other array API namespaces are refused (see
    :func:`check_array_namespace`).
    """
    check_array_namespace(*arrays, estimator=estimator)
    return get_config()["array_api_dispatch"] and any(map(is_tensor, arrays))


def shares_memory(tensor: torch.Tensor, other) -> bool:
    """Return True if ``tensor`` and an array or tensor ``other`` share memory."""
    if is_tensor(other):
        return tensor.device == other.device and (
            tensor.untyped_storage().data_ptr() == other.untyped_storage().data_ptr()
        )
    return tensor.device.type == "cpu" and np.may_share_memory(tensor.numpy(), other)


def run_on_device(
    X,
    windows,
    compute,
    *,
    device: torch.device,
    copy: bool,
    writes: bool = True,
    row_chunks: bool = False,
):
    """Run ``compute(source, out)`` on ``device``; return X's kind of output.

    Parameters
    ----------
    X : ndarray or torch.Tensor
        The validated float input; the output has its shape, type and device.
    windows : ndarray or torch.Tensor of shape (n_instances, n_variates, n_steps)
        X viewed as windows.
    compute : callable
        ``compute(source, out)`` computes on ``source`` (``windows`` on
        ``device``) and writes into ``out`` (``source`` itself when the result
        may overwrite it, a new tensor or None otherwise); it returns the
        result tensor.
    device : torch.device
    copy : bool
        If False the result is written into X.
    writes : bool, default=True
        If False ``compute(source, None)`` only computes statistics (its side
        effects), and None is returned.
    row_chunks : bool, default=False
        ``compute`` treats each instance on its own, so that NumPy input may
        be streamed through a CUDA device in row chunks (see
        :func:`stream_rows`); ``compute`` is then called once per chunk.
    """
    # The whole call, conversions and copies included, runs with the thread
    # count chosen for memory-bound work (see _threads), restored after.
    with scoped_threads(
        windows.nbytes
        if not is_tensor(windows)
        else (windows.numel() * windows.element_size()),
        device,
    ):
        return _run_on_device(
            X,
            windows,
            compute,
            device=device,
            copy=copy,
            writes=writes,
            row_chunks=row_chunks,
        )


def _run_on_device(X, windows, compute, *, device, copy, writes, row_chunks):
    """Do the work of :func:`run_on_device`."""
    tensor_input = is_tensor(X)
    if row_chunks and device.type == "cuda" and not tensor_input:
        out = None
        if writes:
            out = windows if not copy else np.empty(windows.shape, windows.dtype)
        stream_rows(compute, windows, out, device)
        if not writes:
            return None
        return _host_result(out.reshape(X.shape), X, copy=copy)
    source = windows.to(device) if tensor_input else to_tensor(windows, device)
    if not writes:
        with torch.no_grad():
            compute(source, None)
        return None
    out = source
    if copy and shares_memory(source, X):
        # CUDA kernels allocate their output from the caching allocator; on
        # the CPU the output comes from NumPy (see empty_like).
        out = None if device.type == "cuda" else empty_like(source)
    with torch.no_grad():
        result = compute(source, out)
    if tensor_input:
        result = result.to(X.device).reshape(X.shape)
        if copy:
            return result
        if not shares_memory(result, X):
            X.copy_(result)
        return X
    return _host_result(to_numpy(result).reshape(X.shape), X, copy=copy)


def _host_result(result: np.ndarray, X: np.ndarray, *, copy: bool) -> np.ndarray:
    """Return the result, or with ``copy=False`` X holding it.

    The result is computed in X's own memory where that can be viewed as
    windows and by torch; otherwise (Fortran order, a reversed view, strides
    torch cannot view) it was computed in a copy, and is copied into X here,
    so that ``copy=False`` writes into X whatever its strides.
    """
    if copy:
        return result
    if not np.may_share_memory(result, X):
        np.copyto(X, result)
    return X


# ------------------------------------------------ streaming host data through CUDA

# Bytes of one chunk of rows in flight: large enough that a transfer runs at
# the bus's speed, small enough that two chunks in flight (double buffering)
# leave the device's memory to others.
CHUNK_BYTES = 64 * 2**20


def plan_row_chunks(
    n_rows: int,
    row_bytes: int,
    *,
    free_bytes: int,
    chunk_bytes: int = CHUNK_BYTES,
    buffers: int = 2,
    headroom: float = 0.5,
) -> int:
    """Return how many rows to move through the device at a time.

    Parameters
    ----------
    n_rows : int
        Rows (instances) to process.
    row_bytes : int
        Bytes of one row.
    free_bytes : int
        Free memory on the device, e.g. ``torch.cuda.mem_get_info()[0]``.
    chunk_bytes : int, default=CHUNK_BYTES
        Target size of a chunk.
    buffers : int, default=2
        Chunks on the device at once (one in transfer, one in compute).
    headroom : float, default=0.5
        Fraction of ``free_bytes`` the buffers may take; the rest is left to
        the temporaries of the computation and to other users of the device.

    Returns
    -------
    rows : int
        At least 1 (a single row is always tried) and at most ``n_rows``.
    """
    if n_rows <= 0:
        return 0
    budget = int(free_bytes * headroom) // max(buffers, 1)
    per_chunk = min(chunk_bytes, budget)
    return int(min(n_rows, max(1, per_chunk // max(row_bytes, 1))))


class _Slot:
    """One set of buffers of the double-buffered pipeline of :func:`stream_rows`.

    The events say when each buffer is free again: ``sent`` (host_in has
    reached the device), ``computed`` (the device buffer is done with) and
    ``copied_back`` (host_out holds the result of ``pending`` rows).
    """

    def __init__(self, shape, dtype, device):
        cuda = device.type == "cuda"
        self.host_in = torch.empty(shape, dtype=dtype, pin_memory=cuda)
        self.host_out = torch.empty(shape, dtype=dtype, pin_memory=cuda)
        self.device = torch.empty(shape, dtype=dtype, device=device)
        self.sent = self.computed = self.copied_back = None
        self.pending = None  # (rows, count) whose output waits in host_out


def _stream_context(stream):
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()


def _record(stream):
    if stream is None:
        return None
    event = torch.cuda.Event()
    event.record(stream)
    return event


def _wait(stream, event):
    if stream is not None and event is not None:
        stream.wait_event(event)


def _synchronize(event):
    if event is not None:
        event.synchronize()


def stream_rows(
    compute,
    source: np.ndarray,
    out: np.ndarray | None,
    device,
    *,
    rows_per_chunk: int | None = None,
):
    """Stream host rows through ``device`` in chunks, overlapping the steps.

    Each chunk of rows is copied into a pinned host buffer, sent to the device
    on a copy stream, computed on the compute stream (``compute(chunk,
    None)``, which returns its result, or None for statistics alone), and
    copied back on the copy stream into another pinned buffer, while the host
    fills the next chunk: two sets of buffers alternate. Input larger than the
    device's memory is processed this way as well. Where ``compute`` waits for
    the device (a check for NaN), the copy of one chunk back still overlaps
    the host's filling of the next.

    Parameters
    ----------
    compute : callable
        ``compute(chunk, None)`` as in :func:`run_on_device`: it returns the
        chunk's result (ignored when ``out`` below is None).
    source : ndarray of shape (n_rows, ...)
        Host data.
    out : ndarray of source's shape, or None
        Where the results go (may be ``source``); None when ``compute`` only
        computes statistics.
    device : torch.device
        A CUDA device; the CPU works too, without pinned memory or streams
        (to test the chunking).
    rows_per_chunk : int, optional
        Chunk size; by default from :func:`plan_row_chunks`.
    """
    n_rows = source.shape[0]
    if n_rows == 0:
        return
    row_bytes = source[0].nbytes
    cuda = device.type == "cuda"
    if rows_per_chunk is None:
        free = torch.cuda.mem_get_info(device)[0] if cuda else CHUNK_BYTES * 4
        rows_per_chunk = plan_row_chunks(
            n_rows, row_bytes, free_bytes=free, chunk_bytes=CHUNK_BYTES
        )
    dtype = torch.from_numpy(np.empty(0, dtype=source.dtype)).dtype
    shape = (rows_per_chunk, *source.shape[1:])
    slots = [_Slot(shape, dtype, device) for _ in range(2)]
    copy_stream = torch.cuda.Stream(device) if cuda else None
    compute_stream = torch.cuda.current_stream(device) if cuda else None

    def drain(slot):
        if slot.pending is not None:
            _synchronize(slot.copied_back)
            rows, count = slot.pending
            np.copyto(out[rows], slot.host_out[:count].numpy())
            slot.pending = None

    with torch.no_grad():
        for index, start in enumerate(range(0, n_rows, rows_per_chunk)):
            slot = slots[index % 2]
            drain(slot)
            rows = slice(start, min(start + rows_per_chunk, n_rows))
            count = rows.stop - rows.start
            host_in, chunk = slot.host_in[:count], slot.device[:count]
            _synchronize(slot.sent)  # host_in is free once it reached the device
            np.copyto(host_in.numpy(), source[rows])
            with _stream_context(copy_stream):
                _wait(copy_stream, slot.computed)  # the device buffer is free
                chunk.copy_(host_in, non_blocking=cuda)
                slot.sent = _record(copy_stream)
            _wait(compute_stream, slot.sent)
            with _stream_context(compute_stream):
                # compute allocates its output (on CUDA, the fused kernel's).
                result = compute(chunk, None)
                slot.computed = _record(compute_stream)
            if out is None:
                continue
            if cuda and result is not chunk:
                result.record_stream(copy_stream)
            with _stream_context(copy_stream):
                _wait(copy_stream, slot.computed)
                slot.host_out[:count].copy_(result, non_blocking=cuda)
                slot.copied_back = _record(copy_stream)
            slot.pending = (rows, count)
        for slot in slots:
            drain(slot)
        if cuda:
            torch.cuda.current_stream(device).wait_stream(copy_stream)
