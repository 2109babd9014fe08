"""Tests of the demo: the README's first command, in --quick mode."""

import csv
import subprocess
import sys
from io import StringIO

import numpy as np
import pytest

pytest.importorskip("pandas")
mpl_image = pytest.importorskip("matplotlib.image")

from sklearn_revin import demo  # noqa: E402

LABELS = [
    "naive (last value)",
    "Ridge on differences",
    "Ridge",
    "Ridge + RevIN",
    "RandomForest",
    "RandomForest + RevIN",
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Run ``--quick --quiet`` once; return its exit status, output and folder."""
    output = tmp_path_factory.mktemp("demo")
    capture = pytest.MonkeyPatch()  # capsys is per test; this run is per module
    stdout, stderr = StringIO(), StringIO()
    capture.setattr(sys, "stdout", stdout)
    capture.setattr(sys, "stderr", stderr)
    try:
        status = demo.main(["--quick", "--quiet", "--output", str(output)])
    finally:
        capture.undo()
    return status, stdout.getvalue(), stderr.getvalue(), output


def read_results(path):
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_demo_quick_run_succeeds_and_prints_the_table(quick_run):
    """Check the exit status and that the table has every model and series."""
    status, stdout, stderr, _ = quick_run
    assert status == 0
    assert stderr == ""  # --quiet, and no TTY: no progress bar
    header = next(line for line in stdout.splitlines() if line.startswith("model"))
    assert header.split() == ["model", "co2", "sunspots", "elnino", "macrodata"]
    for label in LABELS:
        assert any(line.startswith(label + "  ") for line in stdout.splitlines())


def test_demo_quick_run_writes_the_plot(quick_run):
    """Check that forecasts.png is a real image of a sensible size."""
    _, stdout, _, output = quick_run
    path = output / "forecasts.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpl_image.imread(path)
    height, width = image.shape[:2]
    assert width >= 800
    assert height >= 500
    assert image.std() > 0.05  # not a blank canvas
    assert str(path) in stdout


def test_demo_results_csv_matches_the_printed_table(quick_run):
    """Check results.csv: every series and model, and the ratios the table shows."""
    _, stdout, _, output = quick_run
    rows = read_results(output / "results.csv")
    assert {(row["dataset"], row["model"]) for row in rows} == {
        (name, label) for name in demo.CASES for label in LABELS
    }
    lines = {line.split("  ")[0]: line for line in stdout.splitlines()}
    for row in rows:
        ratio = float(row["mse"]) / float(
            rows_by(rows, row["dataset"])["naive (last value)"]
        )
        assert float(row["mse_relative_to_naive"]) == pytest.approx(ratio)
        assert f"({ratio:.2f})" in lines[row["model"]]


def rows_by(rows, dataset):
    return {
        row["model"]: float(row["mse"]) for row in rows if row["dataset"] == dataset
    }


@pytest.mark.parametrize("dataset", ["co2", "macrodata"])
def test_demo_trending_series_result_direction(quick_run, dataset):
    """Check the demo's headline: raw forest far above naive, RevIN forest far below."""
    _, _, _, output = quick_run
    mse = rows_by(read_results(output / "results.csv"), dataset)
    naive = mse["naive (last value)"]
    assert mse["RandomForest"] > 5 * naive
    assert mse["RandomForest + RevIN"] < 0.6 * naive


def test_demo_dataset_option_selects_the_series(tmp_path, capsys):
    """Check that --dataset runs only the named series."""
    status = demo.main(
        ["--quick", "--quiet", "--dataset", "sunspots", "--output", str(tmp_path)]
    )
    assert status == 0
    assert {row["dataset"] for row in read_results(tmp_path / "results.csv")} == {
        "sunspots"
    }
    header = next(
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("model")
    )
    assert header.split() == ["model", "sunspots"]
    assert (tmp_path / "forecasts.png").exists()


def test_demo_unknown_dataset_is_a_usage_error(capsys):
    """Check that argparse refuses a series that does not ship."""
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--dataset", "airline"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'airline'" in capsys.readouterr().err


def test_demo_without_pandas_says_which_extra_in_one_line(monkeypatch, capsys):
    """Check a plain install: one line naming the demo extra, not a traceback."""
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas fails
    with pytest.raises(SystemExit) as excinfo:
        demo.main(["--quick", "--quiet"])
    assert excinfo.value.code == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1
    assert 'pip install ".[demo]"' in message
    assert "Traceback" not in message


def test_demo_runs_as_a_module():
    """Check that ``python -m sklearn_revin.demo`` reaches main (here with --help)."""
    completed = subprocess.run(
        [sys.executable, "-m", "sklearn_revin.demo", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    for option in ("--dataset", "--output", "--quick", "--quiet"):
        assert option in completed.stdout


def test_demo_progress_bar_when_enabled(capsys):
    """Check that a progress bar is drawn on request, one step per fit."""
    pytest.importorskip("tqdm")
    demo.compare([demo.CASES["sunspots"]], quick=True, progress=True)
    err = capsys.readouterr().err
    assert "0/4" in err  # Ridge and RandomForest, each raw and with RevIN
    assert "sunspots: RandomForest + RevIN" in err


def test_demo_naive_forecast_repeats_the_last_value():
    """Check the naive baseline against the series itself."""
    (result,) = demo.compare([demo.CASES["co2"]], quick=True)
    case = result.case
    series = case.series().to_numpy()
    cut = int(demo.TRAIN_FRACTION * len(series))
    naive = result.predictions["naive (last value)"]
    # window j forecasts steps cut + j ..., from the value at cut + j - 1
    assert np.array_equal(naive[:, 0], series[cut - 1 : cut - 1 + len(naive)])
    assert np.array_equal(result.truth[:, 0], series[cut : cut + len(naive)])
    assert (naive == naive[:, :1]).all()


def test_demo_console_script_is_main():
    """Check that the sklearn-revin-demo entry point is demo.main."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="sklearn-revin-demo")
    assert script.value == "sklearn_revin.demo:main"
    assert script.load() is demo.main


def test_demo_differenced_baseline_is_ridge_on_y_minus_last_value():
    """Check the differencing baseline against Ridge fitted by hand on differences."""
    from sklearn.linear_model import Ridge

    rng = np.random.RandomState(0)
    series = np.cumsum(rng.standard_normal(300)) + 100
    X, Y = demo.make_windows(series, 10, 3)
    last = X[:, [-1]]
    expected = Ridge().fit(X[:200] - last[:200], Y[:200] - last[:200])
    expected = expected.predict(X[200:] - last[200:]) + last[200:]
    predicted = demo.differenced_forecast(
        X[:200], Y[:200], X[200:], window=10, target_column=9
    )
    np.testing.assert_allclose(predicted, expected)
