"""Tests of the shipped datasets: files, provenance, and what the loaders return."""

import csv
import hashlib
import re
from importlib import resources

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

pd = pytest.importorskip("pandas")

from sklearn_revin.datasets import (  # noqa: E402
    load_co2,
    load_elnino,
    load_macrodata,
    load_sunspots,
)

DATA = resources.files("sklearn_revin.datasets").joinpath("data")
FILES = ("co2.csv", "sunspots.csv", "elnino.csv", "macrodata.csv")


def read_rows(name):
    """Rows of a shipped CSV file, by the standard library's csv reader."""
    with DATA.joinpath(name).open(newline="") as file:
        return list(csv.reader(file))


@pytest.mark.parametrize("name", FILES)
def test_datasets_files_match_the_checksums_in_their_readme(name):
    """Check that every file is the one whose source the README names."""
    readme = DATA.joinpath("README.md").read_text()
    match = re.search(rf"`{re.escape(name)}` \| `([0-9a-f]{{64}})`", readme)
    assert match, f"{name} has no checksum row in data/README.md"
    digest = hashlib.sha256(DATA.joinpath(name).read_bytes()).hexdigest()
    assert digest == match.group(1)


@pytest.mark.parametrize("name", FILES)
def test_datasets_readme_names_source_and_licence(name):
    """Check that the README has a section with the source and licence of each file."""
    readme = DATA.joinpath("README.md").read_text()
    section = readme.split(f"## `{name}`")[1].split("\n## ")[0]
    assert "Licence: public domain" in section
    assert "Source:" in section


def test_load_co2_weekly_is_the_file():
    """Check weekly CO2 values, dates and gaps against the raw CSV rows."""
    rows = read_rows("co2.csv")[1:]
    weekly = load_co2(frequency="weekly")

    assert len(weekly) == len(rows) == 2284
    assert weekly.name == "co2"
    expected = [float(value) if value else np.nan for _, value in rows]
    assert_array_equal(weekly.to_numpy(), expected)
    assert [d.strftime("%Y%m%d") for d in weekly.index] == [d for d, _ in rows]
    assert int(weekly.isna().sum()) == 59


def test_load_co2_monthly_is_the_mean_of_each_month_with_gaps_interpolated():
    """Check monthly means against a hand computation from the raw rows."""
    rows = read_rows("co2.csv")[1:]
    by_month = {}
    for date, value in rows:
        if value:
            by_month.setdefault(date[:6], []).append(float(value))
    co2 = load_co2()

    assert len(co2) == 526
    assert not co2.isna().any()
    assert co2.index.freqstr == "MS"
    months = [d.strftime("%Y%m") for d in co2.index]
    observed = [month in by_month for month in months]
    assert sum(observed) == 521  # 5 months have no reading at all
    assert_allclose(
        co2.to_numpy()[observed],
        [
            np.mean(by_month[m])
            for m, seen in zip(months, observed, strict=True)
            if seen
        ],
    )
    # 1964-02..04 lie on the straight line between January and May 1964
    january, may = np.mean(by_month["196401"]), np.mean(by_month["196405"])
    days = (co2.index[co2.index.year == 1964] - pd.Timestamp("1964-01-01")).days
    line = january + (may - january) * days[1:4] / days[4]
    assert_allclose(co2["1964-02":"1964-04"].to_numpy(), line)


def test_load_co2_bad_frequency_is_an_error():
    """Check the error for a frequency other than monthly or weekly."""
    with pytest.raises(ValueError, match="frequency must be 'monthly' or 'weekly'"):
        load_co2(frequency="daily")


def test_load_sunspots_is_the_file():
    """Check yearly sunspot numbers and years against the raw CSV rows."""
    rows = read_rows("sunspots.csv")[1:]
    sunspots = load_sunspots()

    assert sunspots.name == "sunspots"
    assert_array_equal(sunspots.to_numpy(), [float(v) for _, v in rows])
    assert list(sunspots.index.year) == [int(year) for year, _ in rows]
    # Compared as offsets: pandas 2.0 spells this one "AS-JAN", 2.2 "YS-JAN".
    assert sunspots.index.freq == pd.offsets.YearBegin(month=1)


def test_load_elnino_reads_the_year_by_month_table_in_time_order():
    """Check that the wide table becomes one monthly series in time order."""
    header, *rows = read_rows("elnino.csv")
    sst = load_elnino()

    expected = [float(row[1 + month]) for row in rows for month in range(12)]
    assert_array_equal(sst.to_numpy(), expected)
    assert sst.name == "sst"
    assert header[1:4] == ["JAN", "FEB", "MAR"]
    assert sst.index.freqstr == "MS"
    # March 1953 is the value in row 1953, column MAR
    assert sst["1953-03-01"] == float(rows[3][3])


def test_load_macrodata_index_is_year_and_quarter():
    """Check the quarterly index against the file's year and quarter columns."""
    header, *rows = read_rows("macrodata.csv")
    macro = load_macrodata()

    assert macro.shape == (203, 12)
    assert list(macro.columns) == header[2:]
    assert list(macro.index.year) == [int(row[0]) for row in rows]
    assert list(macro.index.quarter) == [int(float(row[1])) for row in rows]
    assert_array_equal(macro.to_numpy(), [[float(v) for v in row[2:]] for row in rows])
    assert all(dtype == np.float64 for dtype in macro.dtypes)


@pytest.mark.parametrize(
    "loader", [load_co2, load_sunspots, load_elnino, load_macrodata]
)
def test_datasets_index_is_regular_and_increasing(loader):
    """Check that every loader returns a gap-free, increasing time index."""
    data = loader()
    index = data.index
    assert index.freq is not None
    regular = pd.date_range(index[0], periods=len(index), freq=index.freq)
    assert_array_equal(index.to_numpy(), regular.to_numpy())
