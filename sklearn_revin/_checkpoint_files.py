"""Reading checkpoint files safely: data, never code, in bounded memory.

The format of a file is told by its bytes, never by its name: a zip archive
(what ``torch.save`` writes), a legacy torch file or pickle, or safetensors
(what neuralforecast 3.x ``model.save`` writes, whatever the extension). A
directory written by ``NeuralForecast.save`` gives its one
``<Model>_<n>.safetensors``; anything that is not a regular file (a FIFO, a
device) is refused before it is opened, so that reading never hangs.

Torch files are read with ``torch.load(..., weights_only=True)`` only. The
pickles of Lightning, darts and fastai checkpoints name harmless classes
beside the tensors (losses, optimizers, hyper-parameter containers); each
class named is replaced by an inert stand-in (``torch.serialization.
safe_globals`` with ``(stand-in, "module.Name")`` pairs), so that the tensors
load while nothing of the named classes is imported or run. A name that is
not a plain class (``posix.system``, ``builtins.eval``, ``io.open``) or that
comes from a module that runs commands or code is refused, with the reason.

Cost. A path is opened once, checked on the open descriptor, and read
through it (or ``/proc/self/fd/<n>``), so that a name swapped after the check
is never reopened. Before anything is built: the zip's member count (its end
record), the sizes of its pickle and compressed members against
:data:`MAX_READ_BYTES`, a safetensors header against
:data:`MAX_SAFETENSORS_HEADER_BYTES`, and the pickle's opcodes by a linear
pre-scan (:mod:`sklearn_revin._pickle_scan`) against memory and work budgets
proportional to its size; the scan also tells which classes are filled like
dicts or lists, so that one ``torch.load`` suffices. Loads hold a lock:
torch's allowed globals are one registry for the process. Stored tensors are
mapped from the file (``mmap=True``, safetensors' lazy reads), so only the
entries the caller converts are ever read; the caller copies them.
"""

from __future__ import annotations

import _compat_pickle
import os
import pickle
import re
import stat
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ._pickle_scan import (
    MEMORY_FLOOR,
    MEMORY_PER_BYTE,
    WORK_FLOOR,
    WORK_PER_BYTE,
    PickleScan,
    PickleTooCostly,
    PickleTruncated,
    PickleUnsupported,
    scan_pickle,
)

__all__ = [
    "MAX_READ_BYTES",
    "MAX_SAFETENSORS_HEADER_BYTES",
    "MAX_ZIP_MEMBERS",
    "CheckpointFile",
    "StoredTensor",
    "read_checkpoint_file",
]

# The most bytes a checkpoint may make this package hold in memory besides the
# tensors it maps from the file: a pickle, the inflated compressed members of
# a zip archive, a safetensors header.
MAX_READ_BYTES = 256 * 2**20
# A safetensors header (JSON: about 100 bytes a tensor) is parsed whole, at
# some 25 bytes of memory per byte.
MAX_SAFETENSORS_HEADER_BYTES = 8 * 2**20
# torch.save writes one zip member per storage; zipfile lists each in memory.
MAX_ZIP_MEMBERS = 65_536
_LOAD_LOCK = threading.RLock()

# Modules whose objects run commands or code, or reach arbitrary objects: a
# pickle naming one of them is refused, whatever the name looks like.
_DANGEROUS_MODULES = frozenset(
    {
        "__builtin__",
        "__main__",
        "_codecs",
        "_io",
        "_pickle",
        "_posixsubprocess",
        "builtins",
        "code",
        "codecs",
        "copyreg",
        "ctypes",
        "functools",
        "importlib",
        "inspect",
        "io",
        "marshal",
        "multiprocessing",
        "nt",
        "operator",
        "os",
        "pdb",
        "pickle",
        "posix",
        "pty",
        "runpy",
        "shutil",
        "signal",
        "socket",
        "subprocess",
        "sys",
        "tempfile",
        "threading",
        "types",
        "webbrowser",
    }
)
# Functions of these libraries rebuild their data types (numpy arrays and
# scalars, pandas indexes, arrow arrays), as darts' and fastai's pickles name
# them: constructions of data, replaced by stand-ins like classes.
_DATA_LIBRARIES = frozenset({"numpy", "pandas", "pyarrow"})
_SAFETENSORS_DIRECTORY_FILE = re.compile(r"^.+_\d+\.(safetensors|ckpt)$")
_NAMES_SHOWN = 8


@dataclass(frozen=True)
class StoredTensor:
    """A tensor of a file, read only when :meth:`load` is called."""

    shape: tuple
    dtype: str
    _load: Callable[[], torch.Tensor] = field(repr=False)

    def load(self) -> torch.Tensor:
        """Read the tensor from the file."""
        return self._load()


@dataclass(frozen=True)
class CheckpointFile:
    """What a checkpoint file holds.

    Attributes
    ----------
    path : str
        The file read (for a ``NeuralForecast.save`` directory, its model file).
    content : object
        The loaded object: a mapping of names to tensors or
        :class:`StoredTensor` (safetensors), or whatever ``torch.save`` saved,
        with stand-ins in place of the classes it named.
    metadata : dict of str to str
        The safetensors header's metadata; empty for torch files.
    stand_ins : tuple of str
        The classes the pickle named that were replaced by stand-ins.
    """

    path: str
    content: object
    metadata: dict
    stand_ins: tuple = ()


def read_checkpoint_file(path) -> CheckpointFile:
    """Read a checkpoint file or ``NeuralForecast.save`` directory, safely.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        A torch file (zip or legacy, any extension), a safetensors file (any
        extension) or a directory written by ``NeuralForecast.save``. Names
        need not be UTF-8.

    Returns
    -------
    checkpoint_file : CheckpointFile

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    OSError
        If the file cannot be read (the error names it).
    ValueError
        If the file is not a regular file or such a directory, is of no known
        format, is damaged, would cost more memory or time than its size
        allows (see :mod:`sklearn_revin._pickle_scan`), or its pickle names
        anything but plain classes.
    """
    return _read(_as_path(path), in_directory=False)


def _as_path(path) -> str:
    try:
        path = os.fspath(path)
    except TypeError:
        raise ValueError(
            "A checkpoint path must be a str, bytes or os.PathLike; got "
            f"{type(path).__name__}."
        ) from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)  # undecodable bytes survive as surrogates
    if not isinstance(path, str):
        raise ValueError(
            f"A checkpoint path's __fspath__ must return str or bytes; got "
            f"{type(path).__name__}."
        )
    return path


def _read(path: str, *, in_directory: bool) -> CheckpointFile:
    """Open once, check the open file, read through that same descriptor.

    The descriptor is opened without blocking (a FIFO swapped in under the
    name is never waited on) and every later read goes through it, or through
    ``/proc/self/fd/<n>``, which names the opened file itself: a name
    replaced after the check is never reopened.
    """
    descriptor = os.open(
        path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            if in_directory:
                raise ValueError(
                    f"{path!r} is a directory, not a model file: a "
                    "NeuralForecast.save directory holds its model as a file "
                    "named <Model>_<n>.safetensors."
                )
            os.close(descriptor)
            descriptor = None
            return _read(_model_file_of_directory(path), in_directory=True)
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(
                f"{path!r} is not a regular file (it is a "
                f"{_file_kind(status.st_mode)}): a checkpoint must be a torch "
                "or safetensors file, or a directory written by "
                "NeuralForecast.save."
            )
        return _read_regular(path, descriptor, status)
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _read_regular(path: str, descriptor: int, status) -> CheckpointFile:
    size = status.st_size
    head = _pread(descriptor, 9, 0, path)
    source = _descriptor_path(descriptor, status) or path
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _read_torch_zip(path, source, descriptor, size)
    if _is_safetensors(head, size):
        return _read_safetensors(path, source, head)
    if head[:1] == b"\x80":  # a pickle: torch's legacy format, or a bare pickle
        return _read_legacy(path, source, descriptor, size)
    # Never the bytes themselves: the name may lead anywhere (a symlink to
    # /proc/self/environ), and an error message is often shown or logged.
    what = "an empty file" if not head else f"a file of {size} bytes"
    if head.startswith(b"version"):
        what += " that looks like a Git LFS pointer (git lfs pull fetches the file)"
    raise ValueError(
        f"Could not read {path!r} as a torch checkpoint: it is neither a zip "
        "archive (torch.save), a legacy torch file nor a safetensors file; "
        f"it is {what}."
    )


def _pread(descriptor: int, count: int, offset: int, path: str) -> bytes:
    try:
        return os.pread(descriptor, count, offset)
    except OSError as exc:
        raise OSError(
            exc.errno, f"{exc.strerror} (reading the checkpoint)", path
        ) from exc


def _descriptor_path(descriptor: int, status) -> str | None:
    """Return a name of the open file itself, for libraries that open by name."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        candidate = f"{directory}/{descriptor}"
        try:
            found = os.stat(candidate)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (status.st_dev, status.st_ino):
            return candidate
    return None


def _file_kind(mode) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _model_file_of_directory(path: str) -> str:
    """Return the one ``<Model>_<n>.safetensors`` of a NeuralForecast.save."""
    names = sorted(os.listdir(path))
    models = [name for name in names if _SAFETENSORS_DIRECTORY_FILE.match(name)]
    if len(models) == 1:
        return os.path.join(path, models[0])
    if models:
        raise ValueError(
            f"The directory {path!r} holds {len(models)} model files: "
            f"{', '.join(models[:_NAMES_SHOWN])}. Pass the one to read, e.g. "
            f"checkpoint={os.path.join(path, models[0])!r}."
        )
    shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > 8 else "")
    raise ValueError(
        f"{path!r} is a directory, not a checkpoint file, and holds no "
        "<Model>_<n>.safetensors as NeuralForecast.save writes; it holds "
        f"{shown or 'nothing'}."
    )


def _is_safetensors(head: bytes, size: int) -> bool:
    """Tell safetensors: a header length that fits the file, then a JSON object."""
    if len(head) < 9:
        return False
    header_bytes = int.from_bytes(head[:8], "little")
    return 2 <= header_bytes <= size - 8 and head[8:9] == b"{"


def _read_safetensors(path: str, source: str, head: bytes) -> CheckpointFile:
    header_bytes = int.from_bytes(head[:8], "little")
    if header_bytes > MAX_SAFETENSORS_HEADER_BYTES:
        raise ValueError(
            f"Refused to read {path!r}: its safetensors header is "
            f"{header_bytes} bytes, more than the {MAX_SAFETENSORS_HEADER_BYTES} "
            "this package reads (a header names each tensor in about 100 bytes; "
            "parsing it costs some 25 times its size)."
        )
    try:
        from safetensors import safe_open
    except ImportError as exc:
        raise ImportError(
            f"Reading {path!r} (a safetensors file) needs the safetensors "
            "package, which is not installed: pip install safetensors (or the "
            "safetensors extra, pip install '.[safetensors]' from a clone)."
        ) from exc
    try:
        handle = safe_open(source, framework="pt", device="cpu")
        metadata = dict(handle.metadata() or {})
        content = {}
        for name in handle.keys():  # noqa: SIM118 (a safe_open handle)
            entry = handle.get_slice(name)
            content[name] = StoredTensor(
                tuple(entry.get_shape()),
                str(entry.get_dtype()),
                _safetensors_reader(handle, name, path),
            )
    except Exception as exc:  # SafetensorError and the like: a damaged file
        raise ValueError(
            f"Could not read {path!r} as a safetensors file "
            f"({type(exc).__name__}: {exc})."
        ) from exc
    return CheckpointFile(path, content, metadata)


def _safetensors_reader(handle, name, path):
    def load():
        try:
            return handle.get_tensor(name)
        except Exception as exc:
            raise ValueError(
                f"Could not read {name!r} from {path!r} ({type(exc).__name__}: {exc})."
            ) from exc

    return load


def _zip_member_count(path: str, descriptor: int, size: int) -> int:
    """Return the member count the zip's end of central directory declares."""
    tail_start = max(0, size - 22 - 2**16)
    tail = _pread(descriptor, size - tail_start, tail_start, path)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(tail):
        return 0  # zipfile will call it damaged
    count = int.from_bytes(tail[end + 10 : end + 12], "little")
    locator = end - 20
    zip64 = locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07"
    if count == 0xFFFF and zip64:
        offset = int.from_bytes(tail[locator + 8 : locator + 16], "little")
        record = _pread(descriptor, 56, offset, path)
        if record[:4] == b"PK\x06\x06" and len(record) == 56:
            count = int.from_bytes(record[32:40], "little")
    return count


def _read_torch_zip(path: str, source: str, descriptor: int, size: int):
    count = _zip_member_count(path, descriptor, size)
    if count > MAX_ZIP_MEMBERS:
        raise ValueError(
            f"Refused to read {path!r}: its zip archive declares {count} "
            f"members, more than the {MAX_ZIP_MEMBERS} this package reads "
            "(torch.save writes one per storage, and listing each costs memory)."
        )
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            _check_zip_sizes(path, members)
            # torch reads <archive>/data.pkl, the archive named by the first
            # member: every member named so is scanned, whichever torch takes.
            pickles = [m for m in members if m.filename.endswith("data.pkl")]
            scan, size = PickleScan(), 0
            for member in pickles:
                data = archive.read(member)
                size += len(data)
                _merge(scan, _scan(path, data, len(data)))
                del data
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(
            ("Refused", "Could not")
        ):
            raise
        raise ValueError(
            f"Could not read {path!r} as a torch checkpoint: a damaged zip "
            f"archive ({type(exc).__name__}: {exc})."
        ) from exc
    if not pickles:
        raise ValueError(
            f"Could not read {path!r} as a torch checkpoint: its zip archive "
            "holds no data.pkl, which torch.save always writes."
        )
    compressed = any(m.compress_type != zipfile.ZIP_STORED for m in members)
    # torch counts the names registered by a load in another thread as
    # allowed: the names are listed under the lock the load holds.
    with _LOAD_LOCK:
        return _load_torch_zip(path, source, scan, size, compressed)


def _merge(scan, other) -> None:
    scan.names |= other.names
    for name, kind in other.kinds.items():
        scan.kinds.setdefault(name, kind)
    scan.memory += other.memory
    scan.lookups += other.lookups
    scan.storage_bytes += other.storage_bytes


def _load_torch_zip(path, source, scan, size, compressed) -> CheckpointFile:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(source)
    except Exception as exc:
        raise ValueError(
            f"Could not read {path!r} as a torch checkpoint "
            f"({type(exc).__name__}: {exc})."
        ) from exc
    for name in sorted(names):
        _refuse_unless_class(path, name)
    _check_work(path, scan, len(names), size)
    # Compressed members cannot be mapped (torch would map their compressed
    # bytes as data): those, within the limit, are read.
    kinds = {name: scan.kinds.get(name, "object") for name in names}
    content = _torch_load(path, source, mmap=not compressed, kinds=kinds)
    return CheckpointFile(path, content, {}, tuple(sorted(names)))


def _check_zip_sizes(path: str, members) -> None:
    for member in members:
        if member.filename.endswith("data.pkl") and member.file_size > MAX_READ_BYTES:
            raise ValueError(
                f"Refused to read {path!r}: its pickle {member.filename!r} is "
                f"{member.file_size} bytes, more than the {MAX_READ_BYTES} this "
                "package reads into memory."
            )
    compressed = [m for m in members if m.compress_type != zipfile.ZIP_STORED]
    inflated = sum(member.file_size for member in compressed)
    if inflated > MAX_READ_BYTES:
        largest = max(compressed, key=lambda member: member.file_size)
        raise ValueError(
            f"Refused to read {path!r}: its compressed members inflate to "
            f"{inflated} bytes ({largest.filename!r} alone to "
            f"{largest.file_size}, from {largest.compress_size}), more than the "
            f"{MAX_READ_BYTES} this package reads into memory. torch.save never "
            "compresses; this archive was rewritten by something else."
        )


def _read_legacy(path: str, source: str, descriptor: int, size: int):
    """Read a legacy torch file: pickles (magic, protocol, system, object, keys)."""
    # The pickles come first: read as much of the file as they need (doubling,
    # up to MAX_READ_BYTES), never mapped (a file truncated meanwhile would
    # kill the process with SIGBUS).
    read = min(size, 2**20)
    while True:
        data = _pread(descriptor, read, 0, path)
        try:
            scans = _scan_legacy(path, data, size)
            break
        except PickleTruncated:
            if len(data) >= min(size, MAX_READ_BYTES):
                raise ValueError(
                    f"Could not read {path!r} as a torch checkpoint: its "
                    f"pickle is truncated or longer than {MAX_READ_BYTES} "
                    "bytes."
                ) from None
            read = min(2 * read, size, MAX_READ_BYTES)
    declared = sum(scan.storage_bytes for scan in scans)
    if declared > size:
        raise ValueError(
            f"Refused to read {path!r}: its storages declare {declared} bytes, "
            f"more than the file's {size}; a legacy torch file holds its "
            "storages, and torch would allocate them before reading."
        )
    _check_work(path, scans[-1], 0, size)
    return CheckpointFile(path, _torch_load(path, source, mmap=False, kinds={}), {})


def _scan_legacy(path: str, data: bytes, size: int) -> list:
    position, scans = 0, []
    while position < len(data) and data[position] == 0x80 and len(scans) < 5:
        scans.append(_scan(path, data, size, start=position))
        position = scans[-1].end
    return scans


def _scan(path: str, data, size: int, start: int = 0):
    budget = MEMORY_PER_BYTE * size + MEMORY_FLOOR
    try:
        return scan_pickle(data, start, memory_budget=budget)
    except PickleTruncated:
        if len(data) < size:
            raise  # more of the file is needed
        raise ValueError(
            f"Could not read {path!r} as a torch checkpoint: its pickle is truncated."
        ) from None
    except PickleUnsupported as exc:
        raise ValueError(_refusal(path, str(exc))) from None
    except PickleTooCostly as exc:
        raise ValueError(
            f"Refused to load {path!r}: {exc}. This package loads a pickle of "
            f"n bytes only if torch would allocate at most {MEMORY_PER_BYTE}*n + "
            f"{MEMORY_FLOOR} bytes for it ({budget:.0f} here), and refuses "
            "opcodes torch's weights_only unpickler does not know."
        ) from None


def _check_work(path: str, scan, n_names: int, size: int) -> None:
    work = scan.lookups * n_names
    budget = WORK_PER_BYTE * size + WORK_FLOOR
    if work > budget:
        raise ValueError(
            f"Refused to load {path!r}: its pickle names {n_names} classes and "
            f"looks them up {scan.lookups} times; torch's unpickler would do "
            f"{work} steps, more than the {budget} allowed for {size} bytes "
            f"({WORK_PER_BYTE} per byte + {WORK_FLOOR})."
        )


# ----------------------------------------------------------------- unpickling


class _StandIn:
    """An inert object in place of a class a checkpoint's pickle names.

    It records what the pickle passes and runs nothing: the named class is
    never imported.
    """

    _stands_for = ""

    def __new__(cls, *args, **kwargs):
        instance = object.__new__(cls)
        object.__setattr__(instance, "args", args)
        return instance

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        object.__setattr__(self, "state", state)

    def __repr__(self):
        return f"<stand-in for {self._stands_for}>"


class _MappingStandIn:
    """A stand-in for a class the pickle fills like a dict: a plain dict."""

    def __new__(cls, *args, **kwargs):
        return {}


class _SequenceStandIn:
    """A stand-in for a class the pickle fills like a list: a plain list."""

    def __new__(cls, *args, **kwargs):
        return []


_KINDS = {"object": _StandIn, "mapping": _MappingStandIn, "sequence": _SequenceStandIn}


def _stand_in(name: str, kind: str):
    module, _, qualname = name.rpartition(".")
    return type(
        qualname,
        (_KINDS[kind],),
        {"__module__": module, "__qualname__": qualname, "_stands_for": name},
    )


def _python3_name(module: str, attribute: str) -> tuple[str, str]:
    """Return the Python 3 name of a global (protocol 2 uses Python 2 names)."""
    if (module, attribute) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, attribute)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), attribute


def _refuse_unless_class(path: str, name: str) -> None:
    module, _, attribute = name.rpartition(".")
    module, attribute = _python3_name(module, attribute)
    if f"{module}.{attribute}" != name:
        name = f"{name} ({module}.{attribute})"
    top = module.split(".")[0]
    if top in _DANGEROUS_MODULES or not module:
        why = (
            f"it calls {name}, from the module {top or name!r}, whose objects "
            "run commands or code"
        )
    elif not attribute[:1].isupper() and top not in _DATA_LIBRARIES:
        why = f"it calls {name}, a function (not a class), which unpickling would run"
    else:
        return
    raise ValueError(_refusal(path, why))


def _refusal(path: str, why: str) -> str:
    return (
        f"Refused to load {path!r}: {why}. A checkpoint is data: sklearn_revin "
        "reads it with torch.load(weights_only=True) only, in which the classes "
        "a pickle names (losses, optimizers, hyper-parameter containers) become "
        "inert stand-ins and nothing else may be called; it never falls back "
        "to weights_only=False. Save the weights alone, e.g. "
        "torch.save(model.state_dict(), path) or a .safetensors file; or, if "
        "you trust this file, load it yourself and pass the state dict or the "
        "model as checkpoint."
    )


def _torch_load(path: str, source: str, *, mmap: bool, kinds: dict):
    pairs = [(_stand_in(name, kind), name) for name, kind in kinds.items()]
    try:
        # torch's allowed globals are one registry for the whole process:
        # the stand-ins of one load must not meet those of another thread.
        with _LOAD_LOCK, torch.serialization.safe_globals(pairs):
            return _load_with_torch(source, mmap=mmap)
    except OSError as exc:
        raise OSError(
            exc.errno, f"{exc.strerror} (reading the checkpoint)", path
        ) from exc
    except RecursionError:
        raise ValueError(
            f"Could not read {path!r} as a torch checkpoint: its objects are "
            "nested too deeply for Python to build."
        ) from None
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if (
            "weights only" not in message.lower()
            and "weights_only" not in (message.lower())
            and "Can only" not in message
        ):
            raise ValueError(
                f"Could not read {path!r} as a torch checkpoint "
                f"(UnpicklingError: {message})."
            ) from exc
        raise ValueError(_refusal(path, _unsafe_reason(message))) from exc
    except Exception as exc:
        raise ValueError(
            f"Could not read {path!r} as a torch checkpoint "
            f"({type(exc).__name__}: {exc})."
        ) from exc


def _load_with_torch(source: str, *, mmap: bool):
    # torch.load reads a path named *.safetensors as safetensors, whatever its
    # bytes: a torch file under that name is read from an open file instead,
    # which cannot be mapped.
    if mmap and not source.endswith(".safetensors"):
        return torch.load(source, map_location="cpu", weights_only=True, mmap=True)
    with open(source, "rb") as file:
        return torch.load(file, map_location="cpu", weights_only=True)


def _unsafe_reason(message: str) -> str:
    found = re.search(r"GLOBAL ([\w.]+) was not an allowed global", message)
    if found:
        return f"it refers to the Python object {found.group(1)}"
    found = re.search(r"GLOBAL ([\w.]+) whose module ([\w.]+) is blocked", message)
    if found:
        return f"it calls {found.group(1)}, from the blocked module {found.group(2)}"
    found = re.search(r"(Unsupported operand|Trying to call reduce)[^\n]*", message)
    if found:
        return found.group(0).strip()
    return "it holds objects torch does not allow"
