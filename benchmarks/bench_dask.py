"""RevINTransformer on a dask LocalCluster versus the in-memory path.

Run by hand (needs the ``dask`` extra)::

    python benchmarks/bench_dask.py                     # 2 GiB in 64 MiB chunks
    python benchmarks/bench_dask.py --gib 0.5 --repeat 1  # a quick look

Three measurements, on ``--gib`` of float64 windows of ``--steps`` values
(one row per window), chunked by rows into ``--chunk-mib`` blocks:

1. in memory: ``RevINTransformer().transform(X)`` on one NumPy array, in a
   fresh subprocess (torch uses all the cores it is given), timed, with the
   subprocess's peak resident memory (VmHWM: ``benchmarks/_memory.py``);
2. dask, streaming: the windows are generated on the workers chunk by chunk
   (``dask.array.random``), normalized and reduced (``.sum()``), so that no
   chunk is kept, as a larger-than-memory job runs; the same graph without
   RevIN is timed too (generation dominates, and overlaps RevIN, so the
   difference is not RevIN's cost). The peak resident memory of each worker
   process shows what chunks in flight cost (compare with
   ``_dask.WORKING_SET_FACTOR``);
3. dask, persisted: the input is first persisted on the workers, then
   ``transform(X).sum()`` is timed: the throughput of RevIN itself.

Throughput is input bytes per second. The cluster has ``--workers`` processes
with ``--threads`` threads each; dask's nanny sets ``OMP_NUM_THREADS=1`` in
each worker, so torch uses one thread per worker. It also sets
``MALLOC_TRIM_THRESHOLD_=65536``, which returns freed memory to the system
eagerly (less fragmentation) but makes every fresh 64 MiB block page-fault
again; ``--malloc-trim-threshold glibc`` measures without it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
from _memory import for_dask_workers, peak_rss_bytes

GIB = 1024**3
MIB = 1024**2
BENCHMARKS = os.path.dirname(os.path.abspath(__file__))


def in_memory(n_rows, n_steps, repeat):
    """Time transform on one NumPy array, in a fresh process; return a dict."""
    code = textwrap.dedent(
        f"""
        import json, time
        import numpy as np
        from _memory import peak_rss_bytes
        from sklearn_revin import RevINTransformer
        revin = RevINTransformer().fit(np.ones((2, {n_steps})))
        revin.transform(np.random.default_rng(1).standard_normal((1000, {n_steps})))
        X = np.random.default_rng(0).standard_normal(({n_rows}, {n_steps}))
        before = peak_rss_bytes()
        times = []
        for _ in range({repeat}):
            start = time.perf_counter()
            Z = revin.transform(X)
            times.append(time.perf_counter() - start)
            del Z
        peak = peak_rss_bytes()
        print(json.dumps({{"seconds": min(times), "peak_rss": peak,
                           "rss_with_input": before}}))
        """
    )
    path = os.pathsep.join(filter(None, [BENCHMARKS, os.environ.get("PYTHONPATH")]))
    output = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def worker_peaks(client):
    for_dask_workers()
    return sorted(client.run(peak_rss_bytes).values())


def best_time(compute, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        compute()
        times.append(time.perf_counter() - start)
    return min(times)


def on_cluster(n_rows, n_steps, chunk_rows, args):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    from sklearn_revin import RevINTransformer

    revin = RevINTransformer().fit(np.ones((2, n_steps)))
    results = {}
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if args.malloc_trim_threshold == "glibc":
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    else:
        environ["MALLOC_TRIM_THRESHOLD_"] = int(args.malloc_trim_threshold)
    results["worker_environ"] = environ
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ}),
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=args.threads,
            memory_limit=args.memory_limit,
            dashboard_address="127.0.0.1:0",  # no fixed port: runs may overlap
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        # Warm up: import torch and sklearn_revin on every worker.
        warm = da.ones((args.workers * 100, n_steps), chunks=(100, n_steps))
        revin.transform(warm).sum().compute()
        results["worker_rss_after_warm_up"] = worker_peaks(client)

        def generated():
            rng = da.random.default_rng(0)
            return rng.standard_normal((n_rows, n_steps), chunks=(chunk_rows, n_steps))

        results["stream_baseline_seconds"] = best_time(
            lambda: generated().sum().compute(), args.repeat
        )
        results["stream_seconds"] = best_time(
            lambda: revin.transform(generated()).sum().compute(), args.repeat
        )
        results["stream_worker_peak_rss"] = worker_peaks(client)

        X = generated().persist()
        wait(X)
        results["persisted_baseline_seconds"] = best_time(
            lambda: X.sum().compute(), args.repeat
        )
        results["persisted_seconds"] = best_time(
            lambda: revin.transform(X).sum().compute(), args.repeat
        )
        results["persisted_worker_peak_rss"] = worker_peaks(client)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="input size, GiB")
    parser.add_argument("--chunk-mib", type=float, default=64.0, help="chunk size")
    parser.add_argument("--steps", type=int, default=96, help="values per window")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--memory-limit", default="4GiB", help="per worker")
    parser.add_argument("--repeat", type=int, default=3, help="best of N")
    parser.add_argument(
        "--malloc-trim-threshold",
        default="65536",
        help="MALLOC_TRIM_THRESHOLD_ of the workers: dask's nanny sets 65536 "
        "(the default here); 'glibc' leaves glibc's own default",
    )
    parser.add_argument("--skip-in-memory", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    row_bytes = args.steps * 8
    n_rows = int(args.gib * GIB // row_bytes)
    chunk_rows = int(args.chunk_mib * MIB // row_bytes)
    total = n_rows * row_bytes
    chunk_bytes = chunk_rows * row_bytes
    n_chunks = -(-n_rows // chunk_rows)

    results = {
        "input_bytes": total,
        "shape": [n_rows, args.steps],
        "chunk_rows": chunk_rows,
        "n_chunks": n_chunks,
        "cpu_count": os.cpu_count(),
        "args": vars(args),
    }
    results.update(on_cluster(n_rows, args.steps, chunk_rows, args))
    if not args.skip_in_memory:
        results["in_memory"] = in_memory(n_rows, args.steps, args.repeat)

    def rate(seconds):
        return f"{total / seconds / GIB:6.2f} GiB/s ({seconds:6.2f} s)"

    print(
        f"input: {total / GIB:.2f} GiB float64, {n_rows} windows x {args.steps} "
        f"steps, {n_chunks} chunks of {chunk_bytes / MIB:.0f} MiB; cluster: "
        f"{args.workers} worker process(es) x {args.threads} thread(s), "
        f"memory_limit={args.memory_limit}, MALLOC_TRIM_THRESHOLD_="
        f"{args.malloc_trim_threshold}; {os.cpu_count()} CPU core(s)"
    )
    if "in_memory" in results:
        memory = results["in_memory"]
        print(
            f"in memory (NumPy, one process)   {rate(memory['seconds'])}  peak RSS "
            f"{memory['peak_rss'] / GIB:.2f} GiB (input alone: "
            f"{memory['rss_with_input'] / GIB:.2f} GiB)"
        )
    persisted_net = results["persisted_seconds"] - results["persisted_baseline_seconds"]
    print(f"dask, generated + RevIN + sum    {rate(results['stream_seconds'])}")
    print(
        f"dask, generated + sum (no RevIN) {rate(results['stream_baseline_seconds'])}"
    )
    print(f"dask, persisted + RevIN + sum    {rate(results['persisted_seconds'])}")
    baseline = results["persisted_baseline_seconds"]
    print(f"dask, persisted + sum (no RevIN) {rate(baseline)}")
    print(f"dask, RevIN on persisted input   {rate(persisted_net)}")
    mib = [f"{peak / MIB:.0f}" for peak in results["stream_worker_peak_rss"]]
    warm = [f"{peak / MIB:.0f}" for peak in results["worker_rss_after_warm_up"]]
    print(
        f"peak RSS per worker, streaming: {', '.join(mib)} MiB (after warm-up: "
        f"{', '.join(warm)} MiB; one chunk is {chunk_bytes / MIB:.0f} MiB)"
    )
    held = [f"{peak / MIB:.0f}" for peak in results["persisted_worker_peak_rss"]]
    print(
        f"peak RSS per worker, persisted: {', '.join(held)} MiB (each holds about "
        f"{total / args.workers / MIB:.0f} MiB of input)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
