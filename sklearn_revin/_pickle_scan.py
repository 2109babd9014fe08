"""A linear pre-scan of a checkpoint's pickle: its cost bounded before loading.

``torch.load(weights_only=True)`` refuses code, but not cost: a few bytes of
pickle can make it build millions of objects (each ``EMPTY_SET`` opcode, one
byte, is a set of 216 bytes), and each class a pickle names makes every
later opcode of torch's unpickler slower (it rebuilds its dict of allowed
names from the user-registered ones at each lookup). This module reads the
opcodes once, in one pass that builds no object of the file, simulating the
unpickler's stack with placeholders, and tells:

- what loading would cost: an estimate of the memory torch's unpickler would
  allocate (per opcode, from the sizes of the objects it creates) and of its
  work (lookups times names registered), each against a budget proportional
  to the pickle's size with a fixed floor (:data:`MEMORY_PER_BYTE`,
  :data:`MEMORY_FLOOR`, :data:`WORK_PER_BYTE`, :data:`WORK_FLOOR`);
- the classes it names, and which of them it fills like a dict or like a list
  (so that the stand-ins are chosen at once, without reloading the file);
- the storages it declares (legacy torch files allocate them before reading).

Only the opcodes torch's restricted unpickler accepts are known; any other is
refused here, as torch would refuse it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "MAX_NAMES",
    "MEMORY_FLOOR",
    "MEMORY_PER_BYTE",
    "WORK_FLOOR",
    "WORK_PER_BYTE",
    "PickleScan",
    "PickleTooCostly",
    "PickleTruncated",
    "PickleUnsupported",
    "scan_pickle",
]

# Memory torch's unpickler may allocate: this many bytes per byte of pickle,
# plus the floor.
MEMORY_PER_BYTE = 100
MEMORY_FLOOR = 32 * 2**20
# Work: lookups in the registry of allowed names times its size (the names
# given stand-ins), per byte of pickle plus a floor (about a second).
WORK_PER_BYTE = 16
WORK_FLOOR = 4_000_000
# The most distinct class names one pickle may name.
MAX_NAMES = 512
# Storages' element sizes, by the name torch pickles them under.
_ITEMSIZES = {
    "torch.DoubleStorage": 8,
    "torch.FloatStorage": 4,
    "torch.HalfStorage": 2,
    "torch.BFloat16Storage": 2,
    "torch.LongStorage": 8,
    "torch.IntStorage": 4,
    "torch.ShortStorage": 2,
    "torch.CharStorage": 1,
    "torch.ByteStorage": 1,
    "torch.BoolStorage": 1,
    "torch.ComplexFloatStorage": 8,
    "torch.ComplexDoubleStorage": 16,
    "torch.UntypedStorage": 1,
}
_LARGEST_ITEMSIZE = 16


class PickleTooCostly(ValueError):
    """A pickle whose loading would exceed a budget, or that torch would refuse."""


class PickleTruncated(PickleTooCostly):
    """A pickle that ends before its STOP opcode (or the bytes given do)."""


class PickleUnsupported(PickleTooCostly):
    """A pickle that uses an opcode torch's weights_only unpickler refuses."""


@dataclass
class PickleScan:
    """What one pickle names and what loading it would cost.

    Attributes
    ----------
    names : set of str
        The globals named (``module.Name``).
    kinds : dict of str to str
        For names whose instances are filled like containers: ``"mapping"``
        or ``"sequence"``.
    memory : int
        Estimated bytes torch's unpickler allocates.
    lookups : int
        Opcodes at which torch looks up its registry of allowed names.
    storage_bytes : int
        Bytes of the storages declared (persistent ids).
    end : int
        Offset just past the pickle's STOP opcode.
    """

    names: set = field(default_factory=set)
    kinds: dict = field(default_factory=dict)
    memory: int = 0
    lookups: int = 0
    storage_bytes: int = 0
    end: int = 0


class _Placeholder:
    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str = "") -> None:
        self.kind = kind
        self.name = name


_LIST = _Placeholder("list")
_DICT = _Placeholder("dict")
_OTHER = _Placeholder("other")
_MARK = object()
# Bytes torch's unpickler allocates for what an opcode creates (CPython 3.x).
_COST_SET = 216
_COST_LIST = 56
_COST_DICT = 64
_COST_SLOT = 8
_COST_ENTRY = 48
_COST_NUMBER = 32
_COST_STRING = 80
_COST_OBJECT = 200
_SMALL_TUPLE = 8
# EMPTY_SET, the costliest opcode for its size: a run is read in one step.
_RUN = 4096
_RUN_VALUES = {0x8F: _OTHER}
_RUN_COSTS = {0x8F: _COST_SET + _COST_SLOT}


def scan_pickle(
    data, start: int = 0, *, allowed=frozenset(), memory_budget: float = float("inf")
) -> PickleScan:
    """Scan the pickle of ``data`` (bytes-like) starting at ``start``.

    Parameters
    ----------
    data : bytes, memoryview or mmap
        Holds the pickle (and possibly more after it).
    start : int
        Offset of the pickle's first opcode.
    allowed : set of str
        Names torch allows by default (no stand-in needed).
    memory_budget : float
        Refuse as soon as the estimated memory exceeds it.

    Returns
    -------
    scan : PickleScan

    Raises
    ------
    PickleTooCostly
        If the pickle is truncated, uses an opcode torch's restricted
        unpickler refuses, names more than :data:`MAX_NAMES` classes, or
        would make torch allocate more than ``memory_budget``.
    """
    scan = PickleScan()
    stack: list = []
    marks: list = []
    memo: dict = {}
    places: dict = {}
    storages: dict = {}
    position = start
    size = len(data)
    unpack_from = struct.unpack_from

    def need(count: int) -> None:
        if position + count > size:
            raise PickleTruncated(
                f"the pickle is truncated at byte {position} (it needs {count} more)"
            )

    def placeholder(kind: str, name: str) -> _Placeholder:
        key = (kind, name)
        found = places.get(key)
        if found is None:
            found = places[key] = _Placeholder(kind, name)
        return found

    def pop_mark() -> list:
        if not marks:
            raise PickleTooCostly("the pickle pops a mark it never set")
        at = marks.pop()
        items = stack[at:]
        del stack[at:]
        return items

    def fill(kind: str) -> None:
        if not stack:
            raise PickleTooCostly("the pickle fills a container it never built")
        target = stack[-1]
        if isinstance(target, _Placeholder) and target.kind == "instance":
            scan.kinds.setdefault(target.name, kind)

    while True:
        if scan.memory > memory_budget:
            raise PickleTooCostly(
                f"loading its pickle would allocate more than {memory_budget:.0f} "
                f"bytes (at byte {position - start} of the pickle)"
            )
        need(1)
        code = data[position]
        position += 1
        if code == 0x80:  # PROTO
            need(1)
            position += 1
        elif code == 0x2E:  # STOP
            scan.end = position
            return scan
        elif code == 0x63:  # GLOBAL: "module\nname\n"
            end_module = _find_newline(data, position, size)
            end_name = _find_newline(data, end_module + 1, size)
            module = bytes(data[position:end_module]).decode("utf-8", "replace")
            attribute = bytes(data[end_module + 1 : end_name]).decode(
                "utf-8", "replace"
            )
            position = end_name + 1
            name = f"{module}.{attribute}"
            if name not in allowed:
                scan.names.add(name)
                if len(scan.names) > MAX_NAMES:
                    raise PickleTooCostly(
                        f"it names more than {MAX_NAMES} distinct classes"
                    )
            scan.lookups += 1
            stack.append(placeholder("global", name))
            scan.memory += _COST_SLOT
        elif code in (0x81, 0x52):  # NEWOBJ, REDUCE
            if len(stack) < 2:
                raise PickleTooCostly("the pickle calls with an empty stack")
            arguments = stack.pop()
            function = stack.pop()
            stack.append(_result_of(function, arguments, placeholder, scan))
            scan.lookups += 1
            scan.memory += _COST_OBJECT
        elif code == 0x62:  # BUILD
            if len(stack) < 2:
                raise PickleTooCostly("the pickle builds with an empty stack")
            stack.pop()
            scan.lookups += 1
            scan.memory += _COST_OBJECT
        elif code == 0x61:  # APPEND
            if len(stack) < 2:
                raise PickleTooCostly("the pickle appends to nothing")
            stack.pop()
            fill("sequence")
            scan.memory += 2 * _COST_SLOT
        elif code == 0x65:  # APPENDS
            items = pop_mark()
            fill("sequence")
            scan.memory += 2 * _COST_SLOT * len(items)
        elif code == 0x73:  # SETITEM
            if len(stack) < 3:
                raise PickleTooCostly("the pickle sets an item of nothing")
            del stack[-2:]
            fill("mapping")
            scan.memory += _COST_ENTRY
        elif code == 0x75:  # SETITEMS
            items = pop_mark()
            fill("mapping")
            scan.memory += _COST_ENTRY * (len(items) // 2 + 1)
        elif code == 0x28:  # MARK
            marks.append(len(stack))
            scan.memory += _COST_LIST
        elif code == 0x74:  # TUPLE
            items = pop_mark()
            stack.append(tuple(items) if len(items) <= _SMALL_TUPLE else _OTHER)
            scan.memory += _COST_LIST + _COST_SLOT * len(items)
        elif code in (0x85, 0x86, 0x87):  # TUPLE1, TUPLE2, TUPLE3
            count = code - 0x84
            if len(stack) < count:
                raise PickleTooCostly("the pickle makes a tuple of nothing")
            items = tuple(stack[-count:])
            del stack[-count:]
            stack.append(items)
            scan.memory += _COST_LIST + _COST_SLOT * count
        elif code in _RUN_COSTS:  # EMPTY_SET: a run of them read at once
            chunk = bytes(data[position - 1 : position - 1 + _RUN])
            run = len(chunk) - len(chunk.lstrip(chunk[:1]))
            position += run - 1
            stack.extend([_RUN_VALUES[code]] * run)
            scan.memory += _RUN_COSTS[code] * run
        elif code in (0x4E, 0x88, 0x89):  # NONE, NEWTRUE, NEWFALSE
            stack.append({0x4E: None, 0x88: True, 0x89: False}[code])
            scan.memory += _COST_SLOT
        elif code == 0x29:  # EMPTY_TUPLE
            stack.append(())
            scan.memory += _COST_SLOT
        elif code == 0x5D:  # EMPTY_LIST
            stack.append(_LIST)
            scan.memory += _COST_LIST + _COST_SLOT
        elif code == 0x7D:  # EMPTY_DICT
            stack.append(_DICT)
            scan.memory += _COST_DICT + _COST_SLOT
        elif code == 0x4A:  # BININT
            need(4)
            stack.append(unpack_from("<i", data, position)[0])
            position += 4
            scan.memory += _COST_NUMBER
        elif code == 0x4B:  # BININT1
            need(1)
            stack.append(data[position])
            position += 1
            scan.memory += _COST_SLOT
        elif code == 0x4D:  # BININT2
            need(2)
            stack.append(unpack_from("<H", data, position)[0])
            position += 2
            scan.memory += _COST_NUMBER
        elif code == 0x47:  # BINFLOAT
            need(8)
            position += 8
            stack.append(_OTHER)
            scan.memory += _COST_NUMBER
        elif code == 0x8A:  # LONG1
            need(1)
            count = data[position]
            need(1 + count)
            raw = bytes(data[position + 1 : position + 1 + count])
            stack.append(int.from_bytes(raw, "little", signed=True))
            position += 1 + count
            scan.memory += _COST_NUMBER + count
        elif code in (0x58, 0x55):  # BINUNICODE, SHORT_BINSTRING
            width = 4 if code == 0x58 else 1
            need(width)
            count = int.from_bytes(data[position : position + width], "little")
            need(width + count)
            raw = data[position + width : position + width + count]
            position += width + count
            stack.append(
                bytes(raw).decode("utf-8", "replace") if count <= 64 else _OTHER
            )
            scan.memory += _COST_STRING + 2 * count
        elif code == 0x51:  # BINPERSID
            if not stack:
                raise PickleTooCostly("the pickle loads a storage of nothing")
            key, declared = _storage_record(stack.pop())
            if declared > storages.get(key, 0):
                scan.storage_bytes += declared - storages.get(key, 0)
                storages[key] = declared
            stack.append(_OTHER)
            scan.memory += _COST_OBJECT
        elif code in (0x68, 0x6A):  # BINGET, LONG_BINGET
            width = 1 if code == 0x68 else 4
            need(width)
            index = int.from_bytes(data[position : position + width], "little")
            position += width
            if index not in memo:
                raise PickleTooCostly(f"the pickle gets memo {index}, never put")
            stack.append(memo[index])
            scan.memory += _COST_SLOT
        elif code in (0x71, 0x72):  # BINPUT, LONG_BINPUT
            width = 1 if code == 0x71 else 4
            need(width)
            index = int.from_bytes(data[position : position + width], "little")
            position += width
            if not stack:
                raise PickleTooCostly("the pickle memoizes nothing")
            memo[index] = stack[-1]
            scan.memory += _COST_ENTRY
        else:
            raise PickleUnsupported(
                f"the pickle uses opcode {bytes([code])!r} at byte {position - 1}, "
                "which torch's weights_only unpickler does not accept"
            )


def _find_newline(data, start: int, size: int) -> int:
    end = data.find(b"\n", start, min(size, start + 1024))
    if end < 0:
        raise PickleTooCostly("the pickle names a global without an end")
    return end


def _result_of(function, arguments, placeholder, scan):
    if not isinstance(function, _Placeholder) or function.kind != "global":
        return _OTHER
    if function.name in scan.names:
        return placeholder("instance", function.name)
    if function.name == "collections.OrderedDict":
        return _DICT
    return _OTHER


def _storage_record(persistent_id) -> tuple[object, int]:
    """(key, bytes) a storage record declares: ('storage', type, key, _, numel).

    Several tensors on one storage repeat its record (persistent ids are not
    memoized): the key tells them apart.
    """
    if not (isinstance(persistent_id, tuple) and len(persistent_id) >= 5):
        return None, 0
    storage_type, key, numel = persistent_id[1], persistent_id[2], persistent_id[4]
    if not isinstance(numel, int) or isinstance(numel, bool):
        return None, 0
    name = storage_type.name if isinstance(storage_type, _Placeholder) else ""
    key = key if isinstance(key, (str, int)) else id(persistent_id)
    return key, max(numel, 0) * _ITEMSIZES.get(name, _LARGEST_ITEMSIZE)
