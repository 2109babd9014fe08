"""Peak memory and time of RevINRegressor(Ridge()) fits, in memory and on dask.

Run by hand (needs the ``dask`` extra)::

    python benchmarks/bench_memory.py                  # everything (long)
    python benchmarks/bench_memory.py --quick          # a smoke, seconds
    python benchmarks/bench_memory.py --part dask --datasets electricity \\
        --horizons 96                                  # one cell

Every measurement runs in a fresh subprocess, whose peak resident memory
(``VmHWM``, see ``benchmarks/_memory.py``; not ``ru_maxrss``, which keeps
the forking parent's peak) is the number reported.

1. ``inmemory``: ETTh1 (the real file, from ``--data-dir``) and, with
   ``--datasets ettm1``, ETTm1-shaped (7 x 69,680, synthetic) windows of 336
   steps, horizon 96 and 720, fitted and predicted by
   ``RevINRegressor(Ridge(), n_variates=7, channel_independent=True)`` --
   the exact fit from sufficient statistics --
   and by the same model with a subclass of Ridge, which takes the generic
   path (normalized copy of X, one-row-per-variate layout, Ridge.fit with
   sample weights): today's path before the sufficient statistics. The
   peak is reported per byte of ``X`` and ``Y`` (contiguous float64), over
   the resident memory of the process with the imports done (the data
   included: a peak of 1.0 per byte would be the data alone).
2. ``dask``: Electricity-shaped (321 x 26,304) and Traffic-shaped (862 x
   17,544) *synthetic* series (daily and weekly cycles, a random walk, noise;
   the real files are not available here), window 336, horizons 96, 192, 336
   and 720. The series is a dask array chunked by time; ``make_windows``
   builds the windows lazily, the first 70 % of the windows are the training
   set (the long-horizon papers' split), the last 20 % the test set.
   ``RevINRegressor(Ridge(), n_variates=V, channel_independent=True)`` is
   fitted on the training windows (dask reduces the sufficient statistics
   block by block) and predicts the test windows, whose MSE is reduced by
   dask too, so that neither the windows nor the forecasts exist whole.
   dask's threaded scheduler runs in the subprocess (``--threads``).
3. ``exact``: the dask fit of (2) on the first 24 variates of the
   Electricity-shaped series, against the in-memory fit of the generic path
   (plain scikit-learn ``Ridge.fit`` with the window weights) on the same
   windows: the largest relative difference of the coefficients.

Results go to ``benchmarks/results/bench_memory.json`` and ``.rst``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

GIB = 1024**3
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

SHAPES = {
    "electricity": (321, 26_304),
    "traffic": (862, 17_544),
    "ettm1": (7, 69_680),
}

COMMON = textwrap.dedent(
    """
    import json, os, resource, sys, time
    import numpy as np
    from sklearn.linear_model import Ridge
    from _memory import peak_rss_bytes as peak, rss_bytes as rss
    from sklearn_revin import RevINRegressor, make_windows


    def cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


    def synthetic(n_variates, n_steps, seed=0):
        rng = np.random.default_rng(seed)
        t = np.arange(n_steps)[:, None]
        phase = rng.uniform(0, 2 * np.pi, (2, n_variates))
        level = rng.uniform(10, 100, n_variates)
        series = level * (
            1
            + 0.3 * np.sin(2 * np.pi * t / 24 + phase[0])
            + 0.1 * np.sin(2 * np.pi * t / 168 + phase[1])
        )
        series += np.cumsum(rng.normal(0, 0.5, (n_steps, n_variates)), axis=0)
        series += rng.normal(0, 1, (n_steps, n_variates))
        return series


    class GenericRidge(Ridge):
        # A subclass: RevINRegressor takes its generic path (no statistics).
        pass
    """
)

IN_MEMORY = COMMON + textwrap.dedent(
    """
    source, horizon, model_kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if source.endswith(".csv"):
        import pandas as pd

        series = pd.read_csv(source).iloc[:, 1:].to_numpy(dtype=np.float64)
    else:
        series = synthetic(7, int(source))
    base = rss()
    X, Y = make_windows(series, window=336, horizon=horizon)
    X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
    data_bytes = X.nbytes + Y.nbytes
    ridge = Ridge() if model_kind == "statistics" else GenericRidge()
    model = RevINRegressor(ridge, n_variates=7, channel_independent=True)
    start, cpu_start = time.perf_counter(), cpu()
    model.fit(X, Y)
    fitted, cpu_fitted = time.perf_counter(), cpu()
    prediction = model.predict(X)
    end, cpu_end = time.perf_counter(), cpu()
    print(json.dumps({
        "X_shape": list(X.shape), "data_bytes": data_bytes,
        "peak_over_imports": peak() - base,
        "peak_per_input_byte": (peak() - base) / data_bytes,
        "fit_seconds": fitted - start, "predict_seconds": end - fitted,
        "fit_cpu_seconds": cpu_fitted - cpu_start,
        "predict_cpu_seconds": cpu_end - cpu_fitted,
        "prediction_dtype": str(prediction.dtype),
    }))
    """
)

DASK = COMMON + textwrap.dedent(
    """
    import dask
    import dask.array as da

    n_variates, n_steps, horizon = (int(a) for a in sys.argv[1:4])
    threads, chunk_mib, check = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    dask.config.set(scheduler="threads", num_workers=threads)
    dask.config.set({"array.chunk-size": f"{chunk_mib}MiB"})
    series = synthetic(n_variates, n_steps)
    base = rss()
    lazy = da.from_array(series, chunks=(2048, -1))
    X, Y = make_windows(lazy, window=336, horizon=horizon)
    n = X.shape[0]
    n_train, n_test = int(0.7 * n), int(0.2 * n)
    model = RevINRegressor(Ridge(), n_variates=n_variates, channel_independent=True)
    start, cpu_start = time.perf_counter(), cpu()
    model.fit(X[:n_train], Y[:n_train])
    fitted, cpu_fitted = time.perf_counter(), cpu()
    peak_after_fit = peak()
    forecast = model.predict(X[-n_test:])
    # dask's threads are the parallelism: one BLAS thread per task (fit
    # sets this itself; a lazy predict is computed by the caller).
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=max(1, os.cpu_count() // threads), user_api="blas"):
        mse = float(((forecast - Y[-n_test:]) ** 2).mean().compute())
    end, cpu_end = time.perf_counter(), cpu()
    result = {
        "windows": n, "train_windows": n_train, "test_windows": n_test,
        "windows_bytes_float64": 8 * n * n_variates * (336 + horizon),
        "peak_rss": peak(), "peak_over_series": peak() - base,
        "peak_rss_after_fit": peak_after_fit,
        "fit_seconds": fitted - start, "predict_seconds": end - fitted,
        "fit_cpu_seconds": cpu_fitted - cpu_start,
        "predict_cpu_seconds": cpu_end - cpu_fitted,
        "mse_original_scale": mse,
    }
    if check == "exact":
        X_train = np.asarray(X[:n_train])
        Y_train = np.asarray(Y[:n_train])
        reference = RevINRegressor(
            GenericRidge(), n_variates=n_variates, channel_independent=True
        ).fit(X_train, Y_train)
        got, want = model.regressor_.coef_, reference.regressor_.coef_
        result["max_relative_coef_difference"] = float(
            np.max(np.abs(got - want)) / np.max(np.abs(want))
        )
        got, want = model.regressor_.intercept_, reference.regressor_.intercept_
        result["max_intercept_difference"] = float(np.max(np.abs(got - want)))
    print(json.dumps(result))
    """
)


def run(code, *args, threads):
    environ = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")])
    )
    environ.setdefault("OMP_NUM_THREADS", str(threads))
    completed = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )
    if completed.returncode:
        return {"error": completed.stderr.strip().splitlines()[-1]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _gib(n):
    return f"{n / GIB:.2f}"


def write_table(results_dir=RESULTS):
    """Render every ``bench_memory_*.json`` of ``results_dir`` as one rst page."""
    inmemory, cells, exact = [], [], []
    for path in sorted(results_dir.glob("bench_memory_*.json")):
        results = json.loads(path.read_text())
        inmemory += results.get("inmemory", [])
        cells += results.get("dask", [])
        if results.get("exact"):
            exact.append(results["exact"])
    cells.sort(key=lambda row: (row.get("data", ""), row.get("horizon", 0)))
    lines = []
    if inmemory:
        lines += [
            ".. list-table:: In memory: fit + predict, peak over the imports",
            "   :header-rows: 1",
            "",
            "   * - data (windows x inputs)",
            "     - horizon",
            "     - fit path",
            "     - X + Y (GiB)",
            "     - peak per input byte",
            "     - fit (s, wall / CPU)",
            "     - predict (s, wall / CPU)",
        ]
        for row in inmemory:
            if "error" in row:
                continue
            lines += [
                f"   * - {row['data']} ({row['X_shape'][0]} x {row['X_shape'][1]})",
                f"     - {row['horizon']}",
                f"     - {row['path']}",
                f"     - {_gib(row['data_bytes'])}",
                f"     - {row['peak_per_input_byte']:.2f}",
                f"     - {row['fit_seconds']:.1f} / {row['fit_cpu_seconds']:.1f}",
                f"     - {row['predict_seconds']:.1f} / "
                f"{row['predict_cpu_seconds']:.1f}",
            ]
        lines.append("")
    if cells:
        lines += [
            ".. list-table:: dask, threaded scheduler: fit on the training "
            "windows, predict and score the test windows",
            "   :header-rows: 1",
            "",
            "   * - data (variates x steps)",
            "     - horizon",
            "     - windows (GiB as float64)",
            "     - peak RSS (GiB)",
            "     - fit (s, wall / CPU)",
            "     - predict + MSE (s, wall / CPU)",
            "     - cell (s, wall)",
        ]
        for row in cells:
            if "error" in row:
                lines += [
                    f"   * - {row['data']} {row['shape']}",
                    f"     - {row['horizon']}",
                    f"     - failed: {row['error']}",
                    "     -",
                    "     -",
                    "     -",
                    "     -",
                ]
                continue
            lines += [
                f"   * - {row['data']}-shaped ({row['shape'][0]} x {row['shape'][1]})",
                f"     - {row['horizon']}",
                f"     - {_gib(row['windows_bytes_float64'])}",
                f"     - {_gib(row['peak_rss'])}",
                f"     - {row['fit_seconds']:.0f} / {row['fit_cpu_seconds']:.0f}",
                f"     - {row['predict_seconds']:.0f} / "
                f"{row['predict_cpu_seconds']:.0f}",
                f"     - {row['fit_seconds'] + row['predict_seconds']:.0f}",
            ]
        lines.append("")
    for row in exact:
        if "max_relative_coef_difference" in row:
            lines += [
                f"Exactness: the dask fit on {row['shape'][0]} x {row['shape'][1]} "
                f"(horizon {row['horizon']}) against Ridge.fit in memory: largest "
                "relative difference of the coefficients "
                f"{row['max_relative_coef_difference']:.1e}, of the intercepts "
                f"{row['max_intercept_difference']:.1e} (absolute).",
                "",
            ]
    (results_dir / "bench_memory.rst").write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke, seconds")
    parser.add_argument(
        "--part", choices=["all", "inmemory", "dask", "exact"], default="all"
    )
    parser.add_argument(
        "--datasets", nargs="+", default=["electricity", "traffic"], choices=SHAPES
    )
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 192, 336, 720])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-mib", type=int, default=128)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=None, help="json file (not with --quick)")
    parser.add_argument(
        "--table", action="store_true", help="only render results/bench_memory.rst"
    )
    args = parser.parse_args(argv)
    if args.table:
        write_table()
        return None
    results = {"threads": args.threads, "inmemory": [], "dask": [], "exact": None}
    output = Path(args.output or RESULTS / f"bench_memory_{args.part}.json")

    def save():  # after every cell: a long run stopped early keeps its cells
        if not args.quick:
            output.write_text(json.dumps(results, indent=1) + "\n")

    if args.part in ("all", "inmemory"):
        etth1 = Path(args.data_dir) / "ETTh1.csv"
        sources = [str(etth1)] if etth1.exists() else []
        if "ettm1" in args.datasets:  # --datasets ettm1: the ETTm1-shaped series
            sources.append(str(SHAPES["ettm1"][1]))
        sources = ["2000"] if args.quick else sources
        horizons = [24] if args.quick else [96, 720]
        for source in sources:
            for horizon in horizons:
                for kind in ("statistics", "generic"):
                    row = run(IN_MEMORY, source, horizon, kind, threads=args.threads)
                    row.update(data=Path(source).name, horizon=horizon, path=kind)
                    print(json.dumps(row), flush=True)
                    results["inmemory"].append(row)
                    save()

    if args.part in ("all", "dask"):
        cells = [(name, h) for name in args.datasets for h in args.horizons]
        if args.quick:
            cells = [("quick", 96)]
        for name, horizon in cells:
            shape = (8, 3000) if name == "quick" else SHAPES[name]
            row = run(
                DASK,
                *shape,
                horizon,
                args.threads,
                args.chunk_mib,
                "none",
                threads=args.threads,
            )
            row.update(data=name, shape=list(shape), horizon=horizon)
            print(json.dumps(row), flush=True)
            results["dask"].append(row)
            save()

    if args.part in ("all", "exact"):
        shape = (8, 3000) if args.quick else (24, SHAPES["electricity"][1])
        row = run(
            DASK,
            *shape,
            96,
            args.threads,
            args.chunk_mib,
            "exact",
            threads=args.threads,
        )
        row.update(shape=list(shape), horizon=96)
        print(json.dumps(row), flush=True)
        results["exact"] = row
        save()
        if "max_relative_coef_difference" in row:
            assert row["max_relative_coef_difference"] < 1e-8, row

    if not args.quick:
        write_table()
        print(f"wrote {output} and bench_memory.rst")
    return results


if __name__ == "__main__":
    main()
