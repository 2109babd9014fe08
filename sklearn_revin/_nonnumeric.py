"""Passthrough columns that are not numbers: series ids, categories, calendar labels.

One job: let :class:`RevINRegressor` take a data frame whose passthrough
columns hold strings, categories or dates, and hand those columns to its
regressor as they are (e.g. to
``HistGradientBoostingRegressor(categorical_features="from_dtype")``). The
numeric checks and RevIN see a copy of the frame where such a column is a
column of zeros (never normalized: it is passed through); the regressor gets
the normalized frame with the original column put back in its place.
"""

from __future__ import annotations

import sys

import numpy as np

from ._layout import resolve_passthrough

__all__ = [
    "SERIES_CODE_COLUMNS",
    "NonNumeric",
    "is_numeric_dtype",
    "restore_non_numeric",
    "split_non_numeric",
]


# Columns that forecasting libraries add to the lags to say which series a row
# is of: numbers, but never steps of a window.
SERIES_CODE_COLUMNS = {
    "_level_skforecast": (
        "the series code of skforecast's ForecasterRecursiveMultiSeries"
    ),
}


class NonNumeric:
    """The non-numeric columns of a frame: their positions and the frame itself."""

    def __init__(self, frame, library: str, positions: list[int]):
        self.frame = frame
        self.library = library
        self.positions = positions


def split_non_numeric(X, passthrough, *, resolved=None):
    """Return ``(X_numeric, NonNumeric or None)``.

    A column named in ``SERIES_CODE_COLUMNS`` must be a passthrough column
    too, numbers or not.

    ``X_numeric`` is ``X`` itself when every column is a number; otherwise a
    frame of the same library and column names with zeros in place of the
    non-numeric columns, which must all be passthrough columns (``resolved``
    indices, or ``passthrough`` resolved here against ``X``'s columns).
    """
    library = _library(X)
    if library is None or not hasattr(X, "columns"):
        return X, None
    names = [str(column) for column in X.columns]
    schema = X.dtypes if library == "pandas" else X.schema.values()
    positions = [
        position
        for position, dtype in enumerate(schema)
        if not is_numeric_dtype(dtype, library)
    ]
    codes = [name for name in names if name in SERIES_CODE_COLUMNS]
    if not positions and not codes:
        return X, None
    if resolved is None:
        resolved = resolve_passthrough(passthrough, len(names), names)
    for name in codes:
        if names.index(name) not in resolved:
            raise ValueError(
                f"Column {name!r} of X is {SERIES_CODE_COLUMNS[name]}, not a "
                "step of the window: RevIN would normalize it with the lags. "
                f"Pass it through: passthrough={name!r}."
            )
    if not positions:
        return X, None
    outside = [names[position] for position in positions if position not in resolved]
    if outside:
        raise ValueError(
            f"The columns {outside} of X are not numbers, and not passthrough "
            "columns: name them in passthrough (e.g. passthrough="
            f"{outside[0]!r}) to hand them to the regressor as they are, or "
            "drop them. Window steps must be numbers."
        )
    dropped = [names[position] for position in positions]
    if library == "pandas":
        numeric = X.assign(**{name: 0.0 for name in dropped})
    else:
        import polars as pl

        numeric = X.with_columns([pl.lit(0.0).alias(name) for name in dropped])
    return numeric, NonNumeric(X, library, positions)


def restore_non_numeric(X_normalized, non_numeric: NonNumeric | None):
    """Return the normalized windows as a frame with the non-numeric columns back.

    Nothing to restore gives ``X_normalized`` unchanged.
    """
    if non_numeric is None:
        return X_normalized
    original = non_numeric.frame
    values = np.asarray(X_normalized)
    names = [str(column) for column in original.columns]
    if non_numeric.library == "pandas":
        import pandas as pd

        frame = pd.DataFrame(values, index=original.index, columns=names)
        for position in non_numeric.positions:  # .array keeps the dtype
            frame.isetitem(position, original.iloc[:, position].array)
        return frame
    import polars as pl

    frame = pl.DataFrame(values, schema=names, orient="row")
    return frame.with_columns(
        [original.get_column(names[position]) for position in non_numeric.positions]
    )


def _library(X) -> str | None:
    for library in ("pandas", "polars"):
        module = sys.modules.get(library)
        if module is not None and isinstance(X, (module.DataFrame, module.Series)):
            return library
    return None


def is_numeric_dtype(dtype, library: str) -> bool:
    """Whether a pandas or polars column dtype holds numbers (booleans included)."""
    if library == "pandas":
        import pandas as pd

        return pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    return dtype.is_numeric() or dtype == sys.modules["polars"].Boolean
