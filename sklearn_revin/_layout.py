"""The layout of tabular windows: which columns are steps of which variate.

One job: name the columns of windows (as :func:`make_windows` does), read a
layout back from such names, and resolve ``passthrough`` columns. The
transformer and the regressor use it to infer ``n_variates``, the variate
names and the target variates from a data frame, and to refuse a layout that
the names contradict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np

__all__ = [
    "NamedLayout",
    "input_name",
    "parse_input_names",
    "parse_target_names",
    "positions_of",
    "resolve_passthrough",
    "target_name",
]

# make_windows names inputs "co2[t-2]", "co2[t-1]", "co2[t]" and targets
# "co2[t+1]", "co2[t+2]"; skforecast names its lags "lag_1", "lag_2" and
# mlforecast "lag1", "lag2", newest first.
_INPUT = re.compile(r"^(?P<name>.+)\[t(?:-(?P<lag>[0-9]+))?\]$")
_TARGET = re.compile(r"^(?P<name>.+)\[t\+(?P<ahead>[0-9]+)\]$")
_LAG = re.compile(r"^lag_?(?P<lag>[0-9]+)$")


def input_name(name: str, lag: int) -> str:
    """Name of the input column of variate ``name``, ``lag`` steps before t."""
    return f"{name}[t-{lag}]" if lag else f"{name}[t]"


def target_name(name: str, ahead: int) -> str:
    """Name of the target column of variate ``name``, ``ahead`` steps after t."""
    return f"{name}[t+{ahead}]"


@dataclass(frozen=True)
class NamedLayout:
    """A layout read from column names.

    ``variates`` holds the variate names in column order (None for lag
    names, which carry no variate), ``step_order`` the order of the steps
    within each variate's block.
    """

    variates: list[str] | None
    n_steps: int
    step_order: str


def _blocks(parsed):
    """Group consecutive (name, number) pairs by name; None if a name comes back."""
    blocks: list[tuple[str, list[int]]] = []
    for name, number in parsed:
        if blocks and blocks[-1][0] == name:
            blocks[-1][1].append(number)
        elif any(seen == name for seen, _ in blocks):
            return None
        else:
            blocks.append((name, [number]))
    return blocks


def parse_input_names(names: Sequence[str]) -> NamedLayout | None:
    """Read the layout of input windows from their column names.

    Returns None when the names are not all window names (then nothing can
    be inferred), a :class:`NamedLayout` when they describe a layout, and
    raises ``ValueError`` when they are window names in a layout RevIN
    cannot read (time-major columns, or blocks of different lengths).
    """
    names = [str(name) for name in names]
    if not names:
        return None
    lags = [_LAG.match(name) for name in names]
    if all(lags):
        numbers = [int(match["lag"]) for match in lags]
        if numbers == sorted(numbers) and len(set(numbers)) == len(numbers):
            return NamedLayout(None, len(names), "newest_first")
        if numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(
            numbers
        ):
            return NamedLayout(None, len(names), "oldest_first")
        return None
    matches = [_INPUT.match(name) for name in names]
    if not all(matches):
        return None
    parsed = [(match["name"], int(match["lag"] or 0)) for match in matches]
    blocks = _blocks(parsed)
    if blocks is None:
        raise ValueError(
            "The columns are window names (name[t-k]) but not variate-major: "
            f"a variate's steps are not contiguous ({names[:6]}...). RevIN "
            "reads 2-D windows as all steps of variate 0, then variate 1, ...; "
            "reorder the columns, e.g. as make_windows lays them out."
        )
    lengths = {len(lags) for _, lags in blocks}
    if len(lengths) != 1:
        raise ValueError(
            "The window columns hold a different number of steps per variate: "
            + ", ".join(f"{name}: {len(lags)}" for name, lags in blocks)
            + "."
        )
    (n_steps,) = lengths
    orders = set()
    for _, lags in blocks:
        if lags == list(range(n_steps - 1, -1, -1)):
            orders.add("oldest_first")
        elif lags == list(range(n_steps)):
            orders.add("newest_first")
        else:
            orders.add(None)
    if len(orders) != 1 or None in orders:
        raise ValueError(
            "The window columns name steps t-k that are not consecutive and "
            "ordered within each variate (expected t-(n-1), ..., t-1, t, or "
            f"the reverse); got {names[:6]}..."
        )
    return NamedLayout([name for name, _ in blocks], n_steps, orders.pop())


def parse_target_names(names: Sequence[str]) -> tuple[list[str], int] | None:
    """Read (target variate names, horizon) from ``name[t+h]`` column names.

    Returns None when the names are not all target names; raises
    ``ValueError`` when they are, but not in blocks of ``[t+1] ... [t+H]``.
    """
    names = [str(name) for name in names]
    matches = [_TARGET.match(name) for name in names]
    if not names or not all(matches):
        return None
    blocks = _blocks([(match["name"], int(match["ahead"])) for match in matches])
    horizons = {tuple(aheads) for _, aheads in (blocks or [])}
    if blocks is None or len(horizons) != 1:
        raise ValueError(
            "The columns of y are target names (name[t+h]) but not blocks of "
            "one horizon per target variate, variate-major "
            f"(name[t+1], ..., name[t+H] for each target); got {names[:6]}..."
        )
    (aheads,) = horizons
    if list(aheads) != list(range(1, len(aheads) + 1)):
        raise ValueError(
            "The columns of y must be the steps t+1, ..., t+H of each target "
            f"variate, in order; got {names[:6]}..."
        )
    return [name for name, _ in blocks], len(aheads)


def positions_of(items, names, size, *, label, member, unnamed, holder, kinds):
    """Return the positions of ``items``, each a name in ``names`` or an index.

    Negative indices count from the end of ``size``; the other arguments word
    the errors (``"{label} 'x' is not {member}"``, ``"... out of range for
    {holder}"``, ``"must be {kinds}"``).
    """
    positions = []
    for item in items:
        if isinstance(item, str):
            if names is None or item not in names:
                known = unnamed if names is None else names
                raise ValueError(f"{label} {item!r} is not {member} ({known}).")
            positions.append(names.index(item))
        elif isinstance(item, Integral) and not isinstance(item, (bool, np.bool_)):
            if not -size <= item < size:
                raise ValueError(f"{label} {item} is out of range for {holder}.")
            positions.append(int(item) % size)
        else:
            first = label.split()[0]
            raise ValueError(f"{first} must be {kinds}; got {item!r}.")
    return positions


def resolve_passthrough(passthrough, n_features: int, feature_names) -> np.ndarray:
    """Return the sorted column indices named by ``passthrough``.

    ``passthrough`` is None, a column index, a column name, a sequence of
    either, or a boolean mask of ``n_features`` values.
    """
    if passthrough is None:
        return np.empty(0, dtype=np.intp)
    if isinstance(passthrough, (str, Integral)) and not isinstance(passthrough, bool):
        items = [passthrough]
    else:
        items = list(np.asarray(passthrough, dtype=object).ravel())
    if items and all(isinstance(item, (bool, np.bool_)) for item in items):
        if len(items) != n_features:
            raise ValueError(
                f"A boolean passthrough mask must have one value per column of "
                f"X ({n_features}); got {len(items)}."
            )
        indices = np.flatnonzero(np.asarray(items, dtype=bool)).tolist()
        items = indices
    names = None if feature_names is None else [str(n) for n in feature_names]
    indices = positions_of(
        items,
        names,
        n_features,
        label="passthrough column",
        member="a column of X",
        unnamed="X has no column names",
        holder=f"X with {n_features} column(s)",
        kinds="column indices, column names or a boolean mask",
    )
    if len(set(indices)) != len(indices):
        raise ValueError(f"passthrough must not repeat a column; got {items!r}.")
    if len(indices) >= n_features:
        raise ValueError(
            f"passthrough names all columns of X, which has {n_features} "
            "feature(s); at least one column must be a step of a window."
        )
    return np.sort(np.asarray(indices, dtype=np.intp))
