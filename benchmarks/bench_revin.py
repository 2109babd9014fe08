"""Benchmark sklearn-revin against the memory-bandwidth floor and its peers.

Run by hand, never as a test::

    python benchmarks/bench_revin.py            # full run, a few minutes
    python benchmarks/bench_revin.py --quick    # smaller shapes, fewer repeats
    python benchmarks/bench_revin.py --replot   # redraw the plot from the JSON

For every case (shape and dtype) the script times, on the same arrays and in
the same run:

- ``numpy.copy`` of the input: the floor, one read and one write of the data;
- a plain NumPy RevIN formula;
- the ``RevIN`` layer of the ``itransformer`` package (layout
  ``(batch, variates, time)``) on the same device;
- tslearn's ``TimeSeriesScalerMeanVariance`` (on fewer rows when the input is
  large; its ratio is then to ``numpy.copy`` of those rows);
- ``StandardScaler().transform``, the per-call overhead of a scikit-learn
  transformer;
- this package: ``fit_transform``, ``transform``, ``inverse_transform``,
  ``transform(copy=False)`` (in place), ``transform`` with NaN holes and with a
  per-variate affine ``gamma``/``beta``.

Timing: each repeat runs every method once, in a new random order (seeded),
so that the noise of a shared machine falls on all of them alike and no
method always runs right after the same other one (a method that follows a
single-threaded or idle stretch can take twice as long on this machine, while
the second core's thread wakes up); the tables show the
median of the repeats (after warm-up runs) and its ratio to the median of
``numpy.copy`` in the same case.

Fresh or reused memory: by default a method's new output is memory that the
allocator has just asked the kernel for, as in a user's process (NumPy's
large arrays are mapped when allocated and unmapped when freed). On a
virtual machine that hands freed memory back to its host, that includes the
host's page faults, which vary from minute to minute. ``--reuse-memory``
reruns the script with glibc's allocator told to keep freed memory
(``MALLOC_MMAP_MAX_=0``, ``MALLOC_TRIM_THRESHOLD_``), so that outputs reuse
pages already mapped and the ratios show the arithmetic and the memory bus
alone (Linux with glibc; the settings are recorded with the machine).

Peak extra memory: each (case, method) runs once in a fresh subprocess that
creates the input, warms up on a tiny input, resets the kernel's peak-RSS
counter (``/proc/self/clear_refs``) and reads ``VmHWM - VmRSS`` after the
call, with the output still alive. This sees every allocation, NumPy's and
torch's alike (``tracemalloc`` does not see torch's). It is Linux only;
elsewhere memory is not reported.

Results are printed and written to ``benchmarks/results/``: a JSON file with
every number and the machine, a markdown table and a PNG plot.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
EPS = 1e-5
NAN_SEED = 1
ORDER_SEED = 2


@dataclass
class Case:
    """One input: its shape, dtype, device and how often to time it."""

    name: str
    shape: tuple[int, int]
    dtype: str
    repeats: int
    device: str = "cpu"
    tslearn_rows: int | None = None
    memory: bool = True
    tensor: bool = False  # the data is a torch tensor on ``device``
    busy: int = 0  # other processes spinning on a core while it is timed
    threads: int | None = None  # torch.set_num_threads for the case; None: default


@dataclass
class Result:
    case: str
    method: str
    median_s: float
    q1_s: float
    q3_s: float
    repeats: int
    ratio_to_copy: float | None = None
    peak_extra_bytes: int | None = None
    output_bytes: int | None = None
    note: str = ""
    threads: int | None = None  # torch.get_num_threads() of the caller
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------- inputs


def make_input(case: Case) -> np.ndarray:
    rng = np.random.default_rng(0)
    n_rows = case.shape[0]
    X = rng.standard_normal(case.shape, dtype=np.float32).astype(case.dtype, copy=False)
    # Windows with a level and a scale of their own, as RevIN expects.
    X *= rng.uniform(0.5, 5.0, size=(n_rows, 1)).astype(case.dtype)
    X += rng.uniform(-100.0, 100.0, size=(n_rows, 1)).astype(case.dtype)
    return X


def with_nan_windows(X: np.ndarray, fraction: float) -> np.ndarray:
    """Return a copy of X with one NaN in ``fraction`` of its windows."""
    rng = np.random.default_rng(NAN_SEED)
    X = X.copy()
    rows = rng.choice(
        X.shape[0], size=max(1, int(fraction * X.shape[0])), replace=False
    )
    X[rows, rng.integers(0, X.shape[1], size=rows.size)] = np.nan
    return X


def with_nan_values(X: np.ndarray, fraction: float) -> np.ndarray:
    """Return a copy of X with ``fraction`` of its values NaN (most windows hit)."""
    rng = np.random.default_rng(NAN_SEED)
    X = X.copy()
    X[rng.random(X.shape) < fraction] = np.nan
    return X


# -------------------------------------------------------------------- methods


def numpy_revin(X: np.ndarray) -> np.ndarray:
    """A plain NumPy RevIN: per-row mean and clamped biased std."""
    mean = X.mean(axis=1, keepdims=True)
    var = X.var(axis=1, keepdims=True)
    return (X - mean) / np.sqrt(np.maximum(var, EPS))


def build_methods(case: Case, X: np.ndarray) -> dict[str, Callable[[], Callable]]:
    """Return a factory per method; a factory sets up and returns the timed callable.

    Set-up (fitting, extra inputs) happens in the factory, so that a memory
    measurement builds only the method it measures.
    """
    from sklearn.preprocessing import StandardScaler

    from sklearn_revin import RevINTransformer

    if case.tensor:
        return build_tensor_methods(case, X)
    device = case.device
    factories: dict[str, Callable[[], Callable]] = {}
    factories["numpy.copy (floor)"] = lambda: lambda: np.copy(X)
    factories["numpy formula"] = lambda: lambda: numpy_revin(X)

    def reference():
        layer = _itransformer_layer(device)
        shape3d = (X.shape[0], 1, X.shape[1])

        def call():
            with torch.no_grad():
                x = torch.from_numpy(X).to(device).view(shape3d)
                return layer(x)[0].view(X.shape).cpu().numpy()

        return call

    if _itransformer_layer(device) is not None:
        factories["itransformer RevIN"] = reference

    if case.tslearn_rows != 0 and _tslearn_scaler() is not None:
        rows = X[: case.tslearn_rows] if case.tslearn_rows else X
        factories["tslearn MeanVariance"] = lambda: partial(
            _tslearn_scaler().fit_transform, rows
        )
        if case.tslearn_rows:
            factories["numpy.copy (tslearn rows)"] = lambda: lambda: np.copy(rows)

    def standard_scaler():
        return partial(StandardScaler().fit(X).transform, X)

    factories["StandardScaler.transform"] = standard_scaler

    def fitted(**params):
        return RevINTransformer(device=device, **params).fit(X)

    factories["revin fit_transform"] = lambda: partial(
        RevINTransformer(device=device).fit_transform, X
    )
    factories["revin transform"] = lambda: partial(fitted().transform, X)
    factories["revin fit (statistics only)"] = lambda: partial(
        RevINTransformer(device=device).fit, X
    )

    def inverse():
        revin = fitted()
        return partial(revin.inverse_transform, revin.transform(X))

    factories["revin inverse_transform"] = inverse
    # Normalizing normalized data costs the same and stays finite, so the
    # in-place buffer needs no refill between repeats.
    factories["revin transform copy=False"] = lambda: partial(
        fitted().transform, X.copy(), copy=False
    )
    factories["revin transform gamma/beta"] = lambda: partial(
        fitted(gamma=[1.5], beta=[0.3]).transform, X
    )
    factories["revin transform NaN 1% windows"] = lambda: partial(
        fitted().transform, with_nan_windows(X, 0.01)
    )
    factories["revin transform NaN 1% values"] = lambda: partial(
        fitted().transform, with_nan_values(X, 0.01)
    )
    return factories


def build_tensor_methods(case: Case, X: np.ndarray) -> dict[str, Callable]:
    """Factories for data already in a torch tensor on ``case.device``."""
    from sklearn_revin import RevINTransformer

    device = case.device
    shape3d = (X.shape[0], 1, X.shape[1])

    def tensor(values=X):
        return torch.from_numpy(values).to(device).view(shape3d)

    factories: dict[str, Callable[[], Callable]] = {}
    factories["tensor.clone (floor)"] = lambda: tensor().clone

    def reference():
        layer, x = _itransformer_layer(device), tensor()

        def call():
            with torch.no_grad():
                return layer(x)[0]

        return call

    if _itransformer_layer(device) is not None:
        factories["itransformer RevIN"] = reference

    def fitted():
        return RevINTransformer(device=device).fit(tensor())

    factories["revin fit_transform"] = lambda: partial(
        RevINTransformer(device=device).fit_transform, tensor()
    )
    factories["revin transform"] = lambda: partial(fitted().transform, tensor())

    def inverse():
        revin = fitted()
        return partial(revin.inverse_transform, revin.transform(tensor()))

    factories["revin inverse_transform"] = inverse
    factories["revin transform copy=False"] = lambda: partial(
        fitted().transform, tensor(), copy=False
    )
    factories["revin transform NaN 1% windows"] = lambda: partial(
        fitted().transform, tensor(with_nan_windows(X, 0.01))
    )
    return factories


def _itransformer_layer(device):
    try:
        from iTransformer.revin import RevIN
    except ImportError:
        return None
    return RevIN(1).to(device)


def _tslearn_scaler():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from tslearn.preprocessing import TimeSeriesScalerMeanVariance
    except ImportError:
        return None
    return TimeSeriesScalerMeanVariance()


# --------------------------------------------------------------------- timing


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_methods(
    case: Case, methods: dict[str, Callable[[], object]], warmup: int = 2
) -> dict[str, list[float]]:
    """Time each method ``case.repeats`` times, interleaved, after warm-up.

    Every repeat runs the methods in a new random order (seeded), so that each
    one follows each other one about equally often.
    """
    names = list(methods)
    for name in names:
        for _ in range(warmup):
            methods[name]()
    _sync(case.device)
    times: dict[str, list[float]] = {name: [] for name in names}
    large = case.shape[0] * case.shape[1] > 1_000_000
    order = np.random.default_rng(ORDER_SEED)
    for _ in range(case.repeats):
        for name in order.permutation(names):
            if large:
                gc.collect()
            start = time.perf_counter()
            result = methods[name]()
            _sync(case.device)
            times[name].append(time.perf_counter() - start)
            del result
    return times


# ------------------------------------------------- nn.RevIN vs itransformer


def bench_nn(quick: bool, repeats: int | None) -> list[dict]:
    """Time ``nn.RevIN`` against the ``itransformer`` layer it replaces.

    Shapes (batch, variates, time) of the LTSF benchmarks: ``forward`` under
    ``no_grad``, and ``forward`` + ``reverse_fn`` + ``backward`` of a sum, at
    1 and 2 torch threads; both layers in the same run, interleaved.
    """
    from sklearn_revin.nn import RevIN

    reference = _itransformer_layer("cpu")
    if reference is None:
        return []
    reference_class = type(reference)
    shapes = (
        [((32, 7, 336), 300)] if quick else [((32, 7, 336), 400), ((256, 321, 336), 15)]
    )
    default_threads = torch.get_num_threads()
    rows = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for shape, count in shapes:
                count = repeats or count
                x = torch.randn(shape) * 3 + 10
                x_grad = x.clone().requires_grad_()
                layers = {
                    "itransformer": reference_class(shape[1]),
                    "nn.RevIN": RevIN(shape[1]),
                }

                def forward(layer, x=x):
                    with torch.no_grad():
                        return layer(x)[0]

                def full(layer, x_grad=x_grad):
                    x_grad.grad = None
                    layer.zero_grad()
                    normalized, reverse_fn = layer(x_grad)
                    reverse_fn(normalized).sum().backward()

                for kind, call in (
                    ("forward", forward),
                    ("forward+reverse+backward", full),
                ):
                    methods = {
                        name: partial(call, layer) for name, layer in layers.items()
                    }
                    case = Case(f"nn {shape}", (shape[0], shape[2]), "float32", count)
                    times = time_methods(case, methods, warmup=3)
                    medians = {name: float(np.median(t)) for name, t in times.items()}
                    rows.append(
                        {
                            "shape": list(shape),
                            "pass": kind,
                            "threads": threads,
                            "itransformer_s": medians["itransformer"],
                            "nn_revin_s": medians["nn.RevIN"],
                            "ratio": medians["nn.RevIN"] / medians["itransformer"],
                            "repeats": count,
                        }
                    )
                    print(
                        f"  nn.RevIN / itransformer {shape} {kind}, {threads} "
                        f"thread(s): {rows[-1]['ratio']:.2f}",
                        flush=True,
                    )
    finally:
        torch.set_num_threads(default_threads)
    return rows


def nn_restructuredtext(rows: list[dict]) -> str:
    lines = [
        "nn.RevIN against the itransformer layer (cpu)",
        "~" * 45,
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - shape",
        "     - pass",
        "     - torch threads",
        "     - itransformer",
        "     - nn.RevIN",
        "     - nn.RevIN / itransformer",
    ]
    for row in rows:
        lines += [
            f"   * - {tuple(row['shape'])}",
            f"     - {row['pass']}",
            f"     - {row['threads']}",
            f"     - {_format_time(row['itransformer_s'])}",
            f"     - {_format_time(row['nn_revin_s'])}",
            f"     - {row['ratio']:.2f}",
        ]
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------- memory


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def measure_memory_in_this_process(case: Case, method: str) -> dict:
    X = make_input(case)
    warm = Case("warm", (8, case.shape[1]), case.dtype, 1, case.device, 8)
    warm_factories = build_methods(warm, make_input(warm))
    if method in warm_factories:
        warm_factories[method]()()
    call = build_methods(case, X)[method]()
    gc.collect()
    before = _status_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    result = call()
    peak = _status_bytes("VmHWM")
    output = getattr(result, "nbytes", None)
    return {"peak_extra_bytes": peak - before, "output_bytes": output}


def measure_memory(case: Case, method: str) -> dict | None:
    if not (
        sys.platform.startswith("linux") and os.path.exists("/proc/self/clear_refs")
    ):
        return None
    command = [
        sys.executable,
        __file__,
        "--_memory",
        json.dumps({"case": asdict(case), "method": method}),
    ]
    # Every allocation of 64 KiB or more is its own mapping, returned to the
    # system when freed: RSS then counts what is alive, not glibc's free lists.
    env = {
        **os.environ,
        "MALLOC_MMAP_THRESHOLD_": "65536",
        "MALLOC_TRIM_THRESHOLD_": "0",
    }
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, env=env
    )
    if completed.returncode:
        print(
            f"  memory of {method!r} failed: {completed.stderr[-300:]}", file=sys.stderr
        )
        return None
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- cases


def default_cases(quick: bool) -> list[Case]:
    if quick:
        return [
            Case(
                "float32 20,000 x 256", (20_000, 256), "float32", 9, tslearn_rows=2_000
            ),
            Case(
                "float32 2,000 x 4,096", (2_000, 4_096), "float32", 9, tslearn_rows=200
            ),
            Case("float32 32 x 64", (32, 64), "float32", 300, memory=False),
            Case(
                "float32 200,000 x 8 (short windows)",
                (200_000, 8),
                "float32",
                9,
                tslearn_rows=2_000,
            ),
            Case(
                "float32 20,000 x 256, 1 busy process",
                (20_000, 256),
                "float32",
                9,
                tslearn_rows=0,
                memory=False,
                busy=1,
            ),
        ]
    cases = [
        Case(
            "float32 200,000 x 256", (200_000, 256), "float32", 21, tslearn_rows=5_000
        ),
        Case("float32 2,000 x 4,096", (2_000, 4_096), "float32", 41, tslearn_rows=250),
        Case(
            "float64 200,000 x 256", (200_000, 256), "float64", 15, tslearn_rows=5_000
        ),
        Case("float64 2,000 x 4,096", (2_000, 4_096), "float64", 31, tslearn_rows=250),
        Case("float32 32 x 64", (32, 64), "float32", 2_000, memory=False),
        Case(
            "float32 20,000,000 x 8 (short windows)",
            (20_000_000, 8),
            "float32",
            7,
            tslearn_rows=50_000,
            memory=False,
        ),
        Case(
            "float64 20,000,000 x 8 (short windows)",
            (20_000_000, 8),
            "float64",
            5,
            tslearn_rows=50_000,
            memory=False,
        ),
        Case(
            "float32 200,000 x 256, 1 busy process",
            (200_000, 256),
            "float32",
            15,
            tslearn_rows=0,
            memory=False,
            busy=1,
        ),
        Case(
            "float32 200,000 x 256, 1 busy process, 1 thread",
            (200_000, 256),
            "float32",
            15,
            tslearn_rows=0,
            memory=False,
            busy=1,
            threads=1,
        ),
        Case(
            "float64 200,000 x 256, 1 busy process",
            (200_000, 256),
            "float64",
            11,
            tslearn_rows=0,
            memory=False,
            busy=1,
        ),
    ]
    if torch.cuda.is_available():
        for dtype in ("float32", "float64"):
            cases.append(
                Case(
                    f"cuda tensor {dtype} 200,000 x 256",
                    (200_000, 256),
                    dtype,
                    51,
                    device="cuda",
                    memory=False,
                    tensor=True,
                )
            )
        cases.append(
            Case(
                "numpy float32 200,000 x 256, device='cuda'",
                (200_000, 256),
                "float32",
                11,
                device="cuda",
                tslearn_rows=0,
                memory=False,
            )
        )
    return cases


# -------------------------------------------------------------------- reports


# glibc's allocator keeps freed memory mapped with these (see --reuse-memory).
REUSE_MEMORY = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**62)}


def machine_info() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "os_cpu_count": os.cpu_count(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        **{name: os.environ.get(name) for name in REUSE_MEMORY},
        # With numba the package runs its fused kernel (sklearn-revin[fast]).
        "numba": _version_of("numba"),
        "loadavg_at_start": os.getloadavg(),
    }
    try:
        import sklearn

        info["scikit-learn"] = sklearn.__version__
    except ImportError:
        pass
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True)
        fields = dict(
            line.split(":", 1) for line in lscpu.stdout.splitlines() if ":" in line
        )
        for key in (
            "Model name",
            "CPU(s)",
            "Thread(s) per core",
            "Core(s) per socket",
            "Socket(s)",
            "L2 cache",
            "L3 cache",
        ):
            if key in fields:
                info[f"lscpu {key}"] = fields[key].strip()
    except (OSError, subprocess.CalledProcessError):
        info["lscpu"] = "unavailable"
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                k: pool.get(k)
                for k in (
                    "user_api",
                    "internal_api",
                    "num_threads",
                    "architecture",
                    "version",
                )
            }
            for pool in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
    return info


def _version_of(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # any failure means "not installed"
        return None


def _format_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _format_bytes(count: int | None) -> str:
    if count is None:
        return "n/a"
    return f"{count / 2**20:.0f} MiB"


class OtherLoad:
    """Measure how many cores other processes kept busy during a block (Linux).

    The machine's busy CPU time (``/proc/stat``) minus this process's own
    (``getrusage``), divided by the wall time: 0 on a quiet machine, 1 when
    another job used a whole core while the case ran.
    """

    cores: float | None = None

    @staticmethod
    def _busy_seconds():
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
        busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
        return busy / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own_seconds():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime

    def __enter__(self):
        try:
            self._start = (
                time.perf_counter(),
                self._busy_seconds(),
                self._own_seconds(),
            )
        except (OSError, ValueError):
            self._start = None
        return self

    def __exit__(self, *exc_info):
        if self._start is None:
            return
        wall0, busy0, own0 = self._start
        wall = time.perf_counter() - wall0
        other = (self._busy_seconds() - busy0) - (self._own_seconds() - own0)
        self.cores = round(max(other, 0.0) / max(wall, 1e-9), 2)


class busy_processes:  # a context manager, named as a function
    """Keep ``count`` other processes spinning on a core (the contended case)."""

    def __init__(self, count: int):
        self.count = count
        self.processes: list[subprocess.Popen] = []

    def __enter__(self):
        for _ in range(self.count):
            self.processes.append(
                subprocess.Popen([sys.executable, "-c", "while True: pass"])
            )
        if self.processes:
            time.sleep(0.5)  # let them get scheduled
        return self

    def __exit__(self, *exc_info):
        for process in self.processes:
            process.kill()
            process.wait()
        self.processes.clear()


def cpu_idle(seconds: float = 1.0) -> float | None:
    """Return the fraction of CPU time idle over ``seconds`` (Linux), else None."""
    try:
        with open("/proc/stat") as stat:
            first = [int(v) for v in stat.readline().split()[1:]]
        time.sleep(seconds)
        with open("/proc/stat") as stat:
            second = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    delta = [b - a for a, b in zip(first, second, strict=True)]
    return round((delta[3] + delta[4]) / max(sum(delta), 1), 3)


def describe_machine(info: dict) -> str:
    """Return one line naming the machine and the thread counts of ``info``."""
    return (
        f"Machine: {info.get('lscpu Model name', platform.processor())}, "
        f"{info.get('lscpu CPU(s)', os.cpu_count())} CPU(s), "
        f"{info.get('lscpu Thread(s) per core', '?')} thread(s) per core; "
        f"torch {info['torch']} with {info['torch_num_threads']} thread(s), "
        f"numpy {info['numpy']}; OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']}; "
        + (
            f"numba {info['numba']} (the fused kernel)."
            if info.get("numba")
            else "no numba (the torch path)."
        )
    )


def describe_state(state: dict) -> str:
    """Return the sentence on the machine's load while a case ran."""
    before, after = state["before"], state["after"]
    return (
        f"1-min load average {before['loadavg_1min']:.2f} before, "
        f"{after['loadavg_1min']:.2f} after; CPU idle {before['cpu_idle']} "
        f"before, {after['cpu_idle']} after; other processes kept "
        f"{state.get('other_processes_cores')} core(s) busy on average while it ran."
    )


def markdown(
    results: list[Result], cases: list[Case], info: dict, conditions: dict
) -> str:
    lines = ["# sklearn-revin benchmark", "", describe_machine(info), ""]
    for case in cases:
        lines += [f"## {case.name} ({case.device})", ""]
        state = conditions.get(case.name)
        if state:
            lines += [f"Machine state: {describe_state(state)}", ""]
        lines.append(
            "| method | torch threads | median | ratio to floor | peak extra memory "
            "| peak / output |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|")
        for result in (r for r in results if r.case == case.name):
            ratio = (
                "" if result.ratio_to_copy is None else f"{result.ratio_to_copy:.2f}x"
            )
            peak = _format_bytes(result.peak_extra_bytes)
            per_output = ""
            if result.peak_extra_bytes is not None and result.output_bytes:
                per_output = f"{result.peak_extra_bytes / result.output_bytes:.2f}"
            name = result.method + (f" ({result.note})" if result.note else "")
            lines.append(
                f"| {name} | {result.threads or ''} | {_format_time(result.median_s)} "
                f"| {ratio} | {peak} | {per_output} |"
            )
        lines.append("")
    return "\n".join(lines)


def restructuredtext(
    results: list[Result],
    cases: list[Case],
    command: str,
    conditions: dict,
    info: dict | None = None,
) -> str:
    """Return the tables as reStructuredText, for docs/benchmarks.rst to include."""
    lines = [
        ".. Generated by benchmarks/bench_revin.py; rerun it to update.",
        "",
        f"Measured with ``{command}``.",
        "",
    ]
    if info is not None:
        lines += [describe_machine(info), ""]
    for case in cases:
        title = f"{case.name} ({case.device})"
        lines += [title, "~" * len(title), ""]
        state = conditions.get(case.name)
        if state:
            lines += [describe_state(state), ""]
        lines += [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 40 10 15 15 15 15",
            "",
            "   * - method",
            "     - torch threads",
            "     - median",
            "     - ratio to floor",
            "     - peak extra memory",
            "     - peak / output",
        ]
        for result in (r for r in results if r.case == case.name):
            ratio = result.ratio_to_copy
            per_output = ""
            if result.peak_extra_bytes is not None and result.output_bytes:
                per_output = f"{result.peak_extra_bytes / result.output_bytes:.2f}"
            name = result.method + (f" ({result.note})" if result.note else "")
            cells = [
                str(result.threads or ""),
                _format_time(result.median_s),
                "" if ratio is None else f"{ratio:.2f}x",
                _format_bytes(result.peak_extra_bytes),
                per_output,
            ]
            lines.append(f"   * - {name}")
            lines += [f"     - {cell}".rstrip() for cell in cells]
        lines.append("")
    return "\n".join(lines)


def plot(results: list[Result], cases: list[Case], path: Path) -> None:
    if not cases:  # "--cases nn": nothing to plot
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(cases), 1, figsize=(9, 3.2 * len(cases)), squeeze=False
    )
    for ax, case in zip(axes[:, 0], cases, strict=True):
        rows = [r for r in results if r.case == case.name and r.ratio_to_copy]
        names = [r.method for r in rows]
        ratios = [r.ratio_to_copy for r in rows]
        colors = ["tab:blue" if n.startswith("revin") else "tab:gray" for n in names]
        ax.barh(names, ratios, color=colors)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8, label="1x: numpy.copy")
        ax.axvline(
            1.5,
            color="tab:red",
            linewidth=0.8,
            linestyle="--",
            label="1.5x numpy.copy",
        )
        ax.invert_yaxis()
        ax.set_title(f"{case.name} ({case.device}): time / numpy.copy (log scale)")
        ax.tick_params(axis="y", labelsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------- main


def merged(previous: dict, new: dict) -> dict:
    """Return ``previous`` results with the cases of ``new`` replaced or added.

    Rerunning one case (``--cases ... --merge``), e.g. one that another job
    disturbed, keeps the others; the commands of both runs are recorded.
    """
    names = {case["name"] for case in new["cases"]}
    cases = [c for c in previous["cases"] if c["name"] not in names]
    order = [c["name"] for c in previous["cases"]]
    cases += new["cases"]
    cases.sort(key=lambda c: order.index(c["name"]) if c["name"] in order else 1e9)
    conditions = {
        **{k: v for k, v in previous.get("conditions", {}).items() if k not in names},
        **new["conditions"],
    }
    results = [r for r in previous["results"] if r["case"] not in names]
    results += new["results"]
    results.sort(key=lambda r: [c["name"] for c in cases].index(r["case"]))
    return {
        "machine": new["machine"],
        "command": f"{previous['command']}; then {new['command']}",
        "cases": cases,
        "conditions": conditions,
        "results": results,
    }


def run(
    cases: list[Case],
    *,
    memory: bool,
    out_dir: Path,
    merge: bool = False,
    nn_rows: list[dict] | None = None,
    method_words: list[str] | None = None,
) -> list[Result]:
    info = machine_info()
    print(json.dumps(info, indent=1))
    results: list[Result] = []
    conditions: dict[str, dict] = {}
    for case in cases:
        print(f"\n== {case.name} on {case.device}, {case.repeats} repeats", flush=True)
        X = make_input(case)
        methods = {
            name: factory()
            for name, factory in build_methods(case, X).items()
            if not method_words
            or name.endswith("(floor)")
            or any(
                name == word[1:] if word.startswith("=") else word in name
                for word in method_words
            )
        }
        before = {"loadavg_1min": os.getloadavg()[0], "cpu_idle": cpu_idle()}
        default_threads = torch.get_num_threads()
        if case.threads:
            torch.set_num_threads(case.threads)
        caller_threads = torch.get_num_threads()
        try:
            with busy_processes(case.busy), OtherLoad() as other:
                times = time_methods(case, methods)
        finally:
            torch.set_num_threads(default_threads)
        after = {"loadavg_1min": os.getloadavg()[0], "cpu_idle": cpu_idle()}
        conditions[case.name] = {
            "before": before,
            "after": after,
            "other_processes_cores": other.cores,
        }
        print(
            f"  machine load before {before}, after {after}; other processes "
            f"kept {other.cores} core(s) busy",
            flush=True,
        )
        floor_name = next(name for name in times if name.endswith("(floor)"))
        floor = float(np.median(times[floor_name]))
        tslearn_floor = times.get("numpy.copy (tslearn rows)")
        for name, samples in times.items():
            q1, median, q3 = np.percentile(samples, [25, 50, 75])
            result = Result(
                case.name,
                name,
                float(median),
                float(q1),
                float(q3),
                len(samples),
                threads=caller_threads,
            )
            reference = floor
            on_tslearn_rows = name in (
                "tslearn MeanVariance",
                "numpy.copy (tslearn rows)",
            )
            if on_tslearn_rows and tslearn_floor is not None:
                reference = float(np.median(tslearn_floor))
                result.note = f"first {case.tslearn_rows} rows"
            result.ratio_to_copy = float(median) / reference
            if memory and case.memory:
                measured = measure_memory(case, name)
                if measured:
                    result.peak_extra_bytes = measured["peak_extra_bytes"]
                    result.output_bytes = measured["output_bytes"]
            results.append(result)
            print(
                f"  {name:34s} {_format_time(result.median_s):>9s} "
                f"{result.ratio_to_copy:8.2f}x floor  peak extra "
                f"{_format_bytes(result.peak_extra_bytes)}",
                flush=True,
            )
        del X, methods
        gc.collect()
    out_dir.mkdir(parents=True, exist_ok=True)
    command = " ".join([Path(sys.executable).name, *sys.argv])
    payload = {
        "machine": info,
        "command": command,
        "cases": [asdict(case) for case in cases],
        "conditions": conditions,
        "results": [asdict(result) for result in results],
    }
    if merge and (out_dir / "bench_revin.json").exists():
        payload = merged(
            json.loads((out_dir / "bench_revin.json").read_text()), payload
        )
        cases = [Case(**{**c, "shape": tuple(c["shape"])}) for c in payload["cases"]]
        results = [Result(**r) for r in payload["results"]]
        conditions = payload["conditions"]
        command = payload["command"]
    if nn_rows:
        payload["nn"] = nn_rows
    nn_rows = payload.get("nn", [])
    (out_dir / "bench_revin.json").write_text(json.dumps(payload, indent=1))
    (out_dir / "bench_revin.md").write_text(markdown(results, cases, info, conditions))
    text = restructuredtext(results, cases, command, conditions, payload["machine"])
    if nn_rows:
        text += "\n" + nn_restructuredtext(nn_rows)
    (out_dir / "bench_revin.rst").write_text(text)
    plot(results, cases, out_dir / "bench_revin.png")
    print(f"\nwrote {out_dir}/bench_revin.{{json,md,rst,png}}")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small shapes, few repeats"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip peak memory")
    parser.add_argument(
        "--cases",
        nargs="*",
        help="only cases whose name has one of these; nn: the nn.RevIN comparison",
    )
    parser.add_argument(
        "--repeats", type=int, help="override the repeats of every case"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace only these cases in the existing results (see --cases)",
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="only redraw bench_revin.png from bench_revin.json in --out-dir",
    )
    parser.add_argument(
        "--methods",
        nargs="*",
        help="only methods whose name has one of these, or is one prefixed by = "
        "(=revin transform); the floor is kept",
    )
    parser.add_argument(
        "--no-nn",
        action="store_true",
        help="skip nn.RevIN against the itransformer layer",
    )
    parser.add_argument(
        "--reuse-memory",
        action="store_true",
        help="rerun with glibc's allocator keeping freed memory, so that new "
        "outputs reuse mapped pages (see the module docstring)",
    )
    parser.add_argument("--_memory", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reuse_memory and any(
        os.environ.get(name) != value for name, value in REUSE_MEMORY.items()
    ):
        # glibc reads these once, at start: the process must begin again.
        script = sys.argv[0] if argv is None else str(Path(__file__).resolve())
        arguments = sys.argv[1:] if argv is None else argv
        os.execve(
            sys.executable,
            [sys.executable, script, *arguments],
            {**os.environ, **REUSE_MEMORY},
        )
    if args.replot:
        payload = json.loads((args.out_dir / "bench_revin.json").read_text())
        cases = [Case(**{**c, "shape": tuple(c["shape"])}) for c in payload["cases"]]
        results = [Result(**r) for r in payload["results"]]
        plot(results, cases, args.out_dir / "bench_revin.png")
        print(f"redrew {args.out_dir}/bench_revin.png")
        return
    if args._memory:
        request = json.loads(args._memory)
        case = Case(**{**request["case"], "shape": tuple(request["case"]["shape"])})
        print(json.dumps(measure_memory_in_this_process(case, request["method"])))
        return
    cases = default_cases(args.quick)
    if args.cases:
        cases = [c for c in cases if any(word in c.name for word in args.cases)]
    if args.repeats:
        for case in cases:
            case.repeats = args.repeats
    nn_rows = None
    # "--cases nn" runs the nn.RevIN comparison alone (no case has "nn").
    if not args.no_nn and (not args.cases or "nn" in args.cases):
        print("\n== nn.RevIN against the itransformer layer", flush=True)
        nn_rows = bench_nn(args.quick, args.repeats)
    run(
        cases,
        memory=not args.no_memory,
        out_dir=args.out_dir,
        merge=args.merge,
        nn_rows=nn_rows,
        method_words=args.methods,
    )


if __name__ == "__main__":
    main()
