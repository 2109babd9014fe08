"""The pre-scan of checkpoint pickles: names, container kinds, cost estimates."""

import io
import pickle
import sys
import tracemalloc
import types
import zipfile

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_revin._pickle_scan import (
    MAX_NAMES,
    PickleTooCostly,
    PickleUnsupported,
    scan_pickle,
)


def _data_pkl(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with zipfile.ZipFile(buffer) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("data.pkl")]
        return archive.read(name)


def test_scan_reads_names_and_container_kinds_of_a_torch_save_pickle():
    """Check classes filled like a dict or a list are told apart in one pass."""
    module = types.ModuleType("lookalike_scan")
    module.AttributeDict = type(
        "AttributeDict", (dict,), {"__module__": module.__name__}
    )
    module.L = type("L", (list,), {"__module__": module.__name__})
    module.Loss = type("Loss", (), {"__module__": module.__name__})
    sys.modules[module.__name__] = module
    try:
        hyper_parameters = module.AttributeDict(lr=0.1)
        hyper_parameters["callbacks"] = module.L([1, 2])
        loss = module.Loss()
        loss.reduction = "mean"
        data = _data_pkl(
            {"state_dict": {"w": torch.ones(3)}, "hp": hyper_parameters, "loss": loss}
        )
    finally:
        del sys.modules[module.__name__]

    scan = scan_pickle(data)

    assert {
        "lookalike_scan.AttributeDict",
        "lookalike_scan.L",
        "lookalike_scan.Loss",
    } <= scan.names
    assert scan.kinds["lookalike_scan.AttributeDict"] == "mapping"
    assert scan.kinds["lookalike_scan.L"] == "sequence"
    assert "lookalike_scan.Loss" not in scan.kinds
    assert scan.end == len(data)
    assert scan.storage_bytes == 3 * 4


def test_scan_refuses_an_empty_set_flood_past_its_budget():
    """Check EMPTY_SET opcodes are charged a set each and refused past the budget."""
    flood = b"\x80\x02" + b"\x8f" * 10_000 + b"."
    assert scan_pickle(flood).memory >= 216 * 10_000
    with pytest.raises(PickleTooCostly, match="would allocate more than 100000"):
        scan_pickle(flood, memory_budget=100_000)


def test_scan_refuses_opcodes_torch_does_not_accept():
    """Check a protocol 4 pickle (FRAME, STACK_GLOBAL) is refused by opcode."""
    with pytest.raises(PickleUnsupported, match="opcode"):
        scan_pickle(pickle.dumps({"a": 1}, protocol=4))


@pytest.mark.parametrize("data", [b"\x80\x02]", b"\x80\x02X\xff\x00\x00\x00ab", b""])
def test_scan_refuses_truncated_pickles(data):
    """Check a pickle that ends early is refused, not read past its end."""
    with pytest.raises(PickleTooCostly, match="truncated"):
        scan_pickle(data)


def test_scan_refuses_more_than_max_names():
    """Check distinct class names are capped."""
    globals_appended = b"".join(b"cmodule%d\nName\na" % i for i in range(MAX_NAMES + 1))
    with pytest.raises(PickleTooCostly, match=f"more than {MAX_NAMES}"):
        scan_pickle(b"\x80\x02]" + globals_appended + b".")
    at_the_cap = globals_appended[: globals_appended.rindex(b"cmodule")]
    assert len(scan_pickle(b"\x80\x02]" + at_the_cap + b".").names) == MAX_NAMES


def test_scan_counts_a_shared_storage_once():
    """Check tensors on one storage (tied weights) declare its bytes once."""
    weight = torch.ones(100)
    data = _data_pkl({"a": weight, "b": weight, "c": weight[10:]})
    assert scan_pickle(data).storage_bytes == 400


_plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.text(max_size=8), children, max_size=6)
        | st.tuples(children, children)
    ),
    max_leaves=60,
)


@given(_plain)
@settings(max_examples=60, deadline=None)
def test_scan_estimate_bounds_what_unpickling_allocates(value):
    """Property: the estimate is at least what unpickling the data builds."""
    data = pickle.dumps(value, protocol=2)
    scan = scan_pickle(data)
    assert scan.end == len(data)

    tracemalloc.start()
    try:
        loaded = pickle.loads(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded == value
    assert peak <= scan.memory + 4096
