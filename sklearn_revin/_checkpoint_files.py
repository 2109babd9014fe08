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

Memory. What is read into memory is checked against :data:`MAX_READ_BYTES`
first: the pickle of a zip archive, its compressed members (``torch.save``
never compresses) and a safetensors header. Stored tensors are mapped from the
file (``mmap=True``, safetensors' lazy reads), so only the entries the caller
converts are ever read.
"""

from __future__ import annotations

import _compat_pickle
import os
import pickle
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = [
    "MAX_READ_BYTES",
    "CheckpointFile",
    "StoredTensor",
    "read_checkpoint_file",
]

# The most bytes a checkpoint may make this package hold in memory besides the
# tensors it maps from the file: a pickle, the inflated compressed members of
# a zip archive, a safetensors header.
MAX_READ_BYTES = 256 * 2**20

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
    path : str or os.PathLike
        A torch file (zip or legacy, any extension), a safetensors file (any
        extension) or a directory written by ``NeuralForecast.save``.

    Returns
    -------
    checkpoint_file : CheckpointFile

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a regular file or such a directory, is of no known
        format, is damaged, is larger than allowed where it would be read into
        memory, or its pickle names anything but plain classes.
    """
    path = os.fspath(path)
    if stat.S_ISDIR(os.stat(path).st_mode):
        path = _model_file_of_directory(path)
    head, size = _head(path)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _read_torch_zip(path)
    if _is_safetensors(head, size):
        return _read_safetensors(path, head)
    if head[:1] == b"\x80":  # a pickle: torch's legacy format, or a bare pickle
        return CheckpointFile(path, _torch_load(path, mmap=False), {})
    raise ValueError(
        f"Could not read {path!r} as a torch checkpoint: it is neither a zip "
        "archive (torch.save), a legacy torch file nor a safetensors file (its "
        f"first bytes are {head!r})."
    )


# ---------------------------------------------------------------- the formats


def _head(path: str) -> tuple[bytes, int]:
    """Return the first bytes and the size of a regular file; refuse the rest.

    Opened without blocking and checked on the open file, so that a FIFO or a
    device is refused, never waited on.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(
                f"{path!r} is not a regular file (it is a "
                f"{_file_kind(status.st_mode)}): a checkpoint must be a torch "
                "or safetensors file, or a directory written by "
                "NeuralForecast.save."
            )
        return os.read(descriptor, 9), status.st_size
    finally:
        os.close(descriptor)


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
            f"{', '.join(models)}. Pass the one to read, e.g. checkpoint="
            f"{os.path.join(path, models[0])!r}."
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


def _read_safetensors(path: str, head: bytes) -> CheckpointFile:
    header_bytes = int.from_bytes(head[:8], "little")
    if header_bytes > MAX_READ_BYTES:
        raise ValueError(
            f"Refused to read {path!r}: its safetensors header is "
            f"{header_bytes} bytes, more than the {MAX_READ_BYTES} this package "
            "reads into memory."
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
        handle = safe_open(path, framework="pt", device="cpu")
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


def _read_torch_zip(path: str) -> CheckpointFile:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValueError(
            f"Could not read {path!r} as a torch checkpoint: a damaged zip "
            f"archive ({type(exc).__name__}: {exc})."
        ) from exc
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
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:
        raise ValueError(
            f"Could not read {path!r} as a torch checkpoint "
            f"({type(exc).__name__}: {exc})."
        ) from exc
    for name in sorted(names):
        _refuse_unless_class(path, name)
    # Compressed members cannot be mapped (torch would map their compressed
    # bytes as data): those, within the limit, are read.
    content = _torch_load(path, mmap=not compressed, stand_in_names=names)
    return CheckpointFile(path, content, {}, tuple(sorted(names)))


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
# What torch's restricted unpickler says when a stand-in is filled like a
# container: the stand-in's name is in the message.
_CONTAINER_ERRORS = (
    (re.compile(r"Can only (?:SETITEMS?|set item)"), "mapping"),
    (re.compile(r"Can only (?:append to|extend) lists"), "sequence"),
)


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


def _torch_load(path: str, *, mmap: bool, stand_in_names=()):
    kinds = dict.fromkeys(stand_in_names, "object")
    while True:
        pairs = [(_stand_in(name, kind), name) for name, kind in kinds.items()]
        try:
            with torch.serialization.safe_globals(pairs):
                return _load_with_torch(path, mmap=mmap)
        except OSError:
            raise  # an unreadable file says so itself
        except pickle.UnpicklingError as exc:
            message = str(exc)
            refilled = _container_stand_in(message, kinds)
            if refilled is not None:
                kinds[refilled[0]] = refilled[1]
                continue
            if "weights only" not in message.lower() and "weights_only" not in (
                message.lower()
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


def _load_with_torch(path: str, *, mmap: bool):
    # torch.load reads a path named *.safetensors as safetensors, whatever its
    # bytes: a torch file under that name is read from an open file instead,
    # which cannot be mapped.
    if mmap and not path.endswith(".safetensors"):
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    with open(path, "rb") as file:
        return torch.load(file, map_location="cpu", weights_only=True)


def _container_stand_in(message: str, kinds: dict):
    """(name, kind) of a stand-in that must be a container, from torch's error."""
    for pattern, kind in _CONTAINER_ERRORS:
        if not pattern.search(message):
            continue
        for name, current in kinds.items():
            if current == "object" and f"{name}'" in message:
                return name, kind
    return None


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
