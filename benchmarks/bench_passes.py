"""Where the time of a RevIN transform goes on the CPU, pass by pass.

Run by hand, never as a test::

    python benchmarks/bench_passes.py            # about two minutes
    python benchmarks/bench_passes.py --quick    # smaller shapes, fewer repeats

``bench_revin.py`` compares this package with its peers; this script takes
the package's own time apart, on the same float32 arrays, to show how far the
blocked CPU path is from the floor and why. Every time is a median of
interleaved repeats (see ``bench_revin.time_methods``) and is given as a ratio
to ``numpy.copy`` of the same array in the same run:

- memory traffic alone: writing a new array (``np.empty`` and ``fill``: the
  kernel's first touch of every page, then the write) against writing one
  that was written before; one read of the data (``torch.sum`` over rows); one
  read and one write into an existing array (``torch.sub(..., out=...)``);
- one pass over a cache-sized block, repeated until it covers the data (the
  cost of each of the passes that the blocked path makes over a block that is
  already in the cache);
- the package: ``window_statistics`` (statistics only), ``normalize_windows``
  into an existing output and into a new one, ``RevINTransformer.transform``;
- torch's fused kernels that could replace the blocked path:
  ``native_layer_norm`` (moments and normalization in one kernel) and
  ``var_mean`` (Welford moments), and ``tensor.clone()`` (torch's own new
  memory).

Results are printed and written to ``benchmarks/results/bench_passes.json``,
``.md`` and ``.rst`` (the latter included by the docs' benchmark page).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_revin import (
    EPS,
    RESULTS,
    Case,
    _format_time,
    describe_machine,
    machine_info,
    make_input,
    time_methods,
)

from sklearn_revin import RevINTransformer
from sklearn_revin._functional import (
    BLOCK_BYTES,
    normalize_windows,
    window_statistics,
)

GROUPS = {
    "memory": "memory traffic",
    "cache": "one pass over a block in the cache, repeated to cover the data",
    "package": "this package",
    "torch": "torch's fused kernels",
}


def build_methods(X: np.ndarray) -> dict[str, tuple[str, object]]:
    """Return ``{name: (group, callable)}`` for one float32 input."""
    n_rows, n_steps = X.shape
    x = torch.from_numpy(X)
    windows = x.view(n_rows, 1, n_steps)

    def new_array():
        out = np.empty_like(X)
        out.fill(0)
        return out

    written = new_array()
    written_tensor = torch.from_numpy(written)
    written_windows = written_tensor.view(n_rows, 1, n_steps)
    gamma = torch.ones(1, dtype=x.dtype)
    beta = torch.zeros(1, dtype=x.dtype)
    block_rows = max(1, BLOCK_BYTES // (n_steps * X.itemsize))
    block = x[:block_rows].clone()
    n_blocks = -(-n_rows // block_rows)
    estimator = RevINTransformer(device="cpu").fit(X[:2])

    def repeated(operation):
        def run():
            for _ in range(n_blocks):
                operation(block)

        return run

    return {
        "numpy.copy (floor)": ("memory", lambda: np.copy(X)),
        "write a new array (np.empty + fill)": ("memory", new_array),
        "write an array written before (fill)": ("memory", lambda: written.fill(0)),
        "one read (torch.sum over rows)": ("memory", lambda: x.sum(-1)),
        "one read + one write into an array written before (torch.sub)": (
            "memory",
            lambda: torch.sub(x, 1.0, out=written_tensor),
        ),
        "sum over rows": ("cache", repeated(lambda b: b.sum(-1))),
        "sum of squares over rows (vector_norm)": (
            "cache",
            repeated(lambda b: torch.linalg.vector_norm(b, dim=-1)),
        ),
        "scale each row in place (mul_)": (
            "cache",
            repeated(lambda b: b.mul_(1.0)),
        ),
        "window_statistics (statistics only)": (
            "package",
            lambda: window_statistics(windows, eps=EPS),
        ),
        "normalize_windows into an array written before": (
            "package",
            lambda: normalize_windows(
                windows, gamma, beta, eps=EPS, out=written_windows
            ),
        ),
        "normalize_windows into a new array": (
            "package",
            lambda: normalize_windows(windows, gamma, beta, eps=EPS),
        ),
        "RevINTransformer.transform": ("package", lambda: estimator.transform(X)),
        "torch.native_layer_norm": (
            "torch",
            lambda: torch.native_layer_norm(x, [n_steps], None, None, EPS),
        ),
        "torch.var_mean": ("torch", lambda: torch.var_mean(x, -1, correction=0)),
        "tensor.clone()": ("torch", lambda: x.clone()),
    }


def run_case(case: Case) -> dict:
    """Time the methods, torch's fused kernels apart from the rest.

    Each of the two sets is interleaved with its own ``numpy.copy``: a fresh
    output written right after one of torch's own 200 MB allocations was freed
    took 2-3 times as long on the benchmark machine, which would charge the
    package for its neighbours.
    """
    X = make_input(case)
    methods = build_methods(X)
    floor_name = "numpy.copy (floor)"
    rows: dict[str, dict] = {}
    with torch.no_grad():
        for torch_set in (False, True):
            subset = {
                name: call
                for name, (group, call) in methods.items()
                if name == floor_name or (group == "torch") == torch_set
            }
            subset_times = time_methods(case, subset)
            floor = float(np.median(subset_times[floor_name]))
            for name, values in subset_times.items():
                if name == floor_name and torch_set:
                    continue  # the first set's floor is the one shown
                q1, median = np.percentile(values, [25, 50])
                rows[name] = {
                    "method": name,
                    "group": methods[name][0],
                    "median_s": float(median),
                    "q1_s": float(q1),
                    "ratio_to_copy": float(median) / floor,
                }
    ordered = [rows[name] for name in methods]
    for row in ordered:
        print(
            f"  {row['method']:66s} {_format_time(row['median_s']):>9s} "
            f"{row['ratio_to_copy']:6.2f}x"
            f"  (lower quartile {_format_time(row['q1_s'])})"
        )
    return {"case": case.name, "shape": list(case.shape), "rows": ordered}


def markdown(results: list[dict], machine: dict) -> str:
    lines = ["# Where the time of a RevIN transform goes (CPU)", ""]
    lines.append(describe_machine(machine))
    lines.append(
        "torch's fused kernels are timed in a set of their own, with its own "
        "numpy.copy (see run_case)."
    )
    for case in results:
        lines += ["", f"## {case['case']}", ""]
        lines += ["| group | method | median | lower quartile | ratio to numpy.copy |"]
        lines += ["|---|---|---:|---:|---:|"]
        for row in case["rows"]:
            lines.append(
                f"| {row['group']} | {row['method']} | "
                f"{_format_time(row['median_s'])} | {_format_time(row['q1_s'])} | "
                f"{row['ratio_to_copy']:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def _rst_escape(text: str) -> str:
    """Keep a name such as ``mul_`` from being read as a reStructuredText link."""
    return text.replace("_", "\\_")


# The whole transform is timed, with its peers, by bench_revin.py; the docs
# show that number only, so that one operation has one number there (it stays
# in this script's JSON and markdown).
TIMED_BY_BENCH_REVIN = {"RevINTransformer.transform"}


def restructuredtext(results: list[dict]) -> str:
    lines = [".. Generated by benchmarks/bench_passes.py; rerun it to update.", ""]
    for case in results:
        title = f"Time by pass, {case['case']}"
        lines += [f".. list-table:: {title}", "   :header-rows: 1", ""]
        lines += [
            "   * - method",
            "     - median",
            "     - lower quartile",
            "     - ratio to numpy.copy",
        ]
        group = None
        for row in case["rows"]:
            if row["method"] in TIMED_BY_BENCH_REVIN:
                continue
            if row["group"] != group:
                group = row["group"]
                lines += [f"   * - *{GROUPS[group]}*", "     -", "     -", "     -"]
            lines += [
                f"   * - {_rst_escape(row['method'])}",
                f"     - {_format_time(row['median_s'])}",
                f"     - {_format_time(row['q1_s'])}",
                f"     - {row['ratio_to_copy']:.2f}x",
            ]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--tables",
        action="store_true",
        help="only rewrite the markdown and rst tables from bench_passes.json",
    )
    args = parser.parse_args(argv)
    if args.tables:
        payload = json.loads((args.out_dir / "bench_passes.json").read_text())
        results, machine = payload["results"], payload["machine"]
        (args.out_dir / "bench_passes.md").write_text(markdown(results, machine))
        (args.out_dir / "bench_passes.rst").write_text(restructuredtext(results))
        print(f"rewrote the tables in {args.out_dir}")
        return
    shapes = (
        [(20_000, 256), (500, 4_096)]
        if args.quick
        else [
            (200_000, 256),
            (2_000, 4_096),
        ]
    )
    repeats = args.repeats or (5 if args.quick else 21)
    machine = machine_info()
    print(f"torch {machine['torch']}, {machine['torch_num_threads']} thread(s)")
    results = []
    for shape in shapes:
        case = Case(
            name=f"float32 {shape[0]:,} x {shape[1]:,}",
            shape=shape,
            dtype="float32",
            repeats=repeats,
        )
        print(case.name)
        results.append(run_case(case))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "block_bytes": BLOCK_BYTES, "results": results}
    (args.out_dir / "bench_passes.json").write_text(json.dumps(payload, indent=2))
    (args.out_dir / "bench_passes.md").write_text(markdown(results, machine))
    (args.out_dir / "bench_passes.rst").write_text(restructuredtext(results))
    print(f"written to {args.out_dir}")


if __name__ == "__main__":
    main()
