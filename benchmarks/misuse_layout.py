"""What a missing ``n_variates`` costs on ETT, and that the warning says so.

    python benchmarks/misuse_layout.py                  # ETTh2, 336 in, 96 out
    python benchmarks/misuse_layout.py --quick          # 48 in, 12 out: seconds

``make_windows`` of the 7 ETT variates gives NumPy windows of 7 * 336
columns. ``RevINRegressor(Ridge(), channel_independent=True)`` without
``n_variates`` reads them as one variate of 2,352 steps; the package warns
and names ``n_variates=7``. The script fits both on RLinear's split (12, 4, 4
months of 30 days, a StandardScaler fitted on the training part; see
docs/ltsf_benchmark.rst) and prints the test MSE over every test window, and
the warning the first one raised. Data: ETTh1.csv/ETTh2.csv of
zhouhaoyi/ETDataset (CC BY-ND 4.0), read from ``--data-dir``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from sklearn_revin import RevINRegressor, make_windows

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = SHARED if SHARED.is_dir() else Path(__file__).parent / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--name", default="ETTh2")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    window, horizon = (48, 12) if args.quick else (336, 96)

    values = pd.read_csv(args.data_dir / f"{args.name}.csv").iloc[:, 1:].to_numpy()
    month = 30 * 24
    train_end, test_start = 12 * month, 16 * month - window
    data = StandardScaler().fit(values[:train_end]).transform(values)
    X_train, Y_train = make_windows(data[:train_end], window, horizon)
    X_test, Y_test = make_windows(data[test_start : 20 * month], window, horizon)
    n_variates = values.shape[1]

    for label, n in (("no n_variates", None), (f"n_variates={n_variates}", n_variates)):
        model = RevINRegressor(Ridge(), n_variates=n, channel_independent=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X_train, Y_train)
        mse = float(np.mean((model.predict(X_test) - Y_test) ** 2))
        said = [str(w.message)[:90] for w in caught if "n_variates" in str(w.message)]
        print(f"{args.name} {window}->{horizon} {label:>14}: test MSE {mse:.3f}")
        print(f"    warning: {said[0] + '...' if said else 'none'}")


if __name__ == "__main__":
    main()
