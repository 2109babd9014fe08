"""Small real time series that ship with the package, as pandas objects.

Four public-domain series, copied unchanged from the datasets of
`statsmodels <https://www.statsmodels.org>`_ 0.15.0 into ``data/`` (the source,
licence and checksum of each file are in ``data/README.md``):

- :func:`load_co2`: atmospheric CO2 at Mauna Loa, 1958-2001, a trend with a
  yearly cycle;
- :func:`load_sunspots`: yearly sunspot numbers, 1700-2008, an 11-year cycle
  of changing amplitude and no trend;
- :func:`load_elnino`: monthly sea surface temperature in the Nino 1+2 region,
  1950-2010, a yearly cycle and no trend;
- :func:`load_macrodata`: US quarterly macroeconomic data, 1959-2009, several
  trending variates.

Every loader returns a series or frame indexed by the start of each period
(a ``DatetimeIndex`` with its frequency set). pandas is needed here (it is in
the ``demo`` and ``test`` extras), not in the rest of the package.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_co2", "load_elnino", "load_macrodata", "load_sunspots"]

_MONTHS = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
)


def _pandas():
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - pandas is in every extra
        raise ImportError(
            "sklearn_revin.datasets needs pandas: pip install pandas (or "
            "pip install '.[demo]' from a clone of sklearn-revin)."
        ) from exc
    return pandas


def _read_csv(name: str) -> pd.DataFrame:
    with resources.files(__name__).joinpath("data", name).open("rb") as file:
        return _pandas().read_csv(file)


def load_co2(*, frequency: str = "monthly") -> pd.Series:
    """Load the Mauna Loa record of atmospheric CO2, March 1958 to December 2001.

    Weekly averages of continuous measurements at Mauna Loa Observatory,
    Hawaii, in parts per million (Keeling and Whorf, Scripps Institution of
    Oceanography; public domain, via statsmodels). A rising trend with a yearly
    cycle: the classic series on which a model that cannot extrapolate fails.

    Parameters
    ----------
    frequency : {"monthly", "weekly"}, default="monthly"
        ``"monthly"``: the mean of each calendar month's weekly values; the 5
        months with no reading at all (June and October 1958, February to
        April 1964) are interpolated linearly in time, so the 526 values have
        no gap. ``"weekly"``: the 2284 weekly values as recorded, with NaN in
        the 59 weeks without a reading.

    Returns
    -------
    co2 : pandas.Series
        CO2 concentration in ppm, named ``"co2"``, indexed by the start of each
        month (``freq="MS"``) or by the Saturday of each week
        (``freq="W-SAT"``).

    See Also
    --------
    load_macrodata : Another trending series, with several variates.

    Examples
    --------
    >>> from sklearn_revin.datasets import load_co2
    >>> co2 = load_co2()
    >>> len(co2), int(co2.isna().sum()), str(co2.index[0].date())
    (526, 0, '1958-03-01')
    >>> weekly = load_co2(frequency="weekly")
    >>> len(weekly), int(weekly.isna().sum())
    (2284, 59)
    """
    if frequency not in ("monthly", "weekly"):
        raise ValueError(f"frequency must be 'monthly' or 'weekly'; got {frequency!r}.")
    pd = _pandas()
    data = _read_csv("co2.csv")
    index = pd.DatetimeIndex(
        pd.to_datetime(data["date"].astype(str), format="%Y%m%d"),
        freq="W-SAT",
        name="date",
    )
    weekly = pd.Series(data["co2"].to_numpy(dtype=float), index=index, name="co2")
    if frequency == "weekly":
        return weekly
    monthly = weekly.resample("MS").mean()
    return monthly.interpolate(method="time")


def load_sunspots() -> pd.Series:
    """Load the yearly sunspot numbers, 1700 to 2008.

    Yearly means of the sunspot number from the National Geophysical Data
    Center (NOAA; public domain, via statsmodels). An irregular cycle of about
    11 years and no trend.

    Returns
    -------
    sunspots : pandas.Series
        309 yearly values named ``"sunspots"``, indexed by the first day of
        each year (``freq="YS"``).

    See Also
    --------
    load_elnino : Another series with a cycle and no trend.

    Examples
    --------
    >>> from sklearn_revin.datasets import load_sunspots
    >>> sunspots = load_sunspots()
    >>> len(sunspots), int(sunspots.index[0].year), float(sunspots.iloc[0])
    (309, 1700, 5.0)
    """
    pd = _pandas()
    data = _read_csv("sunspots.csv")
    index = pd.DatetimeIndex(
        pd.to_datetime(data["YEAR"].astype(str), format="%Y"), freq="YS", name="date"
    )
    return pd.Series(
        data["SUNACTIVITY"].to_numpy(dtype=float), index=index, name="sunspots"
    )


def load_elnino() -> pd.Series:
    """Load the monthly sea surface temperature of the Nino 1+2 region, 1950-2010.

    Average sea surface temperature in degrees Celsius of the Pacific Ocean
    between 0-10 degrees South and 90-80 degrees West (NOAA Climate Prediction
    Center, ERSST.V3B; public domain, via statsmodels). A strong yearly cycle,
    El Nino years as warm spikes, and no trend. The source table has one row
    per year and one column per month; it is returned as one series in time
    order.

    Returns
    -------
    sst : pandas.Series
        732 monthly temperatures named ``"sst"``, indexed by the first day of
        each month (``freq="MS"``).

    See Also
    --------
    load_sunspots : Another series with a cycle and no trend.

    Examples
    --------
    >>> from sklearn_revin.datasets import load_elnino
    >>> sst = load_elnino()
    >>> len(sst), str(sst.index[0].date()), str(sst.index[-1].date())
    (732, '1950-01-01', '2010-12-01')
    >>> float(sst.iloc[1])  # February 1950
    24.2
    """
    pd = _pandas()
    table = _read_csv("elnino.csv")
    values = table.loc[:, list(_MONTHS)].to_numpy(dtype=float).ravel()  # row-major
    start = f"{int(table['YEAR'].iloc[0])}-01-01"
    index = pd.date_range(start, periods=values.size, freq="MS", name="date")
    return pd.Series(values, index=index, name="sst")


def load_macrodata() -> pd.DataFrame:
    """Load US quarterly macroeconomic data, 1959Q1 to 2009Q3.

    Compiled by Skipper Seabold for statsmodels from FRED (Federal Reserve Bank
    of St. Louis) and the Bureau of Labor Statistics; public domain. Real
    quantities are in billions of chained 2005 dollars at a seasonally adjusted
    annual rate.

    Returns
    -------
    macrodata : pandas.DataFrame of shape (203, 12)
        Columns ``realgdp``, ``realcons`` (consumption), ``realinv``
        (investment), ``realgovt`` (federal spending), ``realdpi`` (disposable
        income), ``cpi``, ``m1``, ``tbilrate``, ``unemp`` (unemployment rate,
        %), ``pop``, ``infl`` and ``realint``, all float, indexed by the first
        day of each quarter (``freq="QS-JAN"``); the source's ``year`` and
        ``quarter`` columns become that index.

    See Also
    --------
    load_co2 : A trending univariate series.

    Examples
    --------
    >>> from sklearn_revin.datasets import load_macrodata
    >>> macro = load_macrodata()
    >>> macro.shape, str(macro.index[-1].date())
    ((203, 12), '2009-07-01')
    >>> float(macro["realgdp"].iloc[0])
    2710.349
    """
    pd = _pandas()
    data = _read_csv("macrodata.csv")
    first = f"{int(data['year'].iloc[0])}Q{int(data['quarter'].iloc[0])}"
    index = pd.date_range(
        pd.Period(first, freq="Q").start_time, periods=len(data), freq="QS", name="date"
    )
    frame = data.drop(columns=["year", "quarter"]).astype(float)
    frame.index = index
    return frame
