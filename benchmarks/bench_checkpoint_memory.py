"""Peak memory and time of reading crafted and large checkpoints, run by hand.

Run by hand, never as a test::

    python benchmarks/bench_checkpoint_memory.py          # the sizes of issue 19
    python benchmarks/bench_checkpoint_memory.py --quick  # small sizes, seconds

Each file is read in a fresh Python process, which reports how much its peak
resident memory (``ru_maxrss``) grew and how long ``RevINTransformer(
checkpoint=...).fit`` (or ``from_checkpoint``) took, and how it ended:

- ``bomb``: a torch.save archive rewritten with deflate, one member of 1 GiB
  of zeros (1 MiB on disk), which torch would inflate before any check;
- ``large``: a torch.save file with a 512 MiB weight beside its RevIN layer:
  mapped from the file, of which only the two RevIN tensors are read;
- the families of issue 19: stride-0 tensors, dicts sharing references, a
  list DAG in the hyper-parameters, thousands of class names (plain or
  filled like dicts), EMPTY_SET floods (zip and bare pickle), a safetensors
  header of 300k entries or of large metadata, a zip of 300k members.

Results are printed as a table (MiB of growth, MiB per MiB of file, seconds);
the docs' checkpoint page quotes them.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import types
import zipfile

import torch

_CHILD = """
import resource, sys, time
import numpy as np
from sklearn_revin import RevINTransformer
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    if sys.argv[2] == "from_checkpoint":
        RevINTransformer.from_checkpoint(sys.argv[1])
    else:
        RevINTransformer(checkpoint=sys.argv[1]).fit(np.ones((2, 3, 4)))
    outcome = "loaded"
except (ValueError, OSError) as error:
    outcome = type(error).__name__ + ": " + str(error).split(": ", 1)[-1][:60]
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{(after - before) / 1024:.1f}\\t{seconds:.2f}\\t{outcome}")
"""
_LAYER = {"revin.gamma": torch.ones(3, 1), "revin.beta": torch.ones(3, 1)}


def _bomb(path, quick):
    plain = io.BytesIO()
    torch.save(_LAYER | {"big": torch.zeros(1)}, plain)
    with (
        zipfile.ZipFile(plain) as archive,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for member in archive.infolist():
            if not member.filename.endswith("data/2"):
                copy.writestr(member.filename, archive.read(member.filename))
                continue
            with copy.open(member.filename, "w") as zeros:
                chunk = bytes(2**20)
                for _ in range(64 if quick else 1024):
                    zeros.write(chunk)


def _large(path, quick):
    torch.save(_LAYER | {"head.weight": torch.ones(2**22 if quick else 2**27)}, path)


def _stride_zero(path, quick):
    values = torch.ones(1).expand(2**20 if quick else 2**27)
    torch.save({"revin.affine_weight": values, "revin.affine_bias": values}, path)


def _shared_dicts(path, quick):
    level = {"leaf": 1.0}
    for _ in range(4):
        level = {f"k{i}": level for i in range(20 if quick else 60)}
    torch.save({"model": level}, path)


def _list_dag(path, quick):
    dag = []
    for _ in range(20 if quick else 34):
        dag = [dag, dag]
    hyper_parameters = {"use_reversible_instance_norm": {"eps": 1e-3, "x": dag}}
    torch.save({"state_dict": _LAYER, "hyper_parameters": hyper_parameters}, path)


def _class_names(count, base):
    def build(path, quick):
        n = count // 10 if quick else count
        module = types.ModuleType("bench_names")
        sys.modules["bench_names"] = module
        try:
            objects = []
            for i in range(n):
                cls = type(f"C{i}", (base,), {"__module__": "bench_names"})
                setattr(module, f"C{i}", cls)
                instance = cls()
                if base is dict:
                    instance["a"] = 1
                objects.append(instance)
            torch.save(
                {"state_dict": _LAYER, "hyper_parameters": {"objects": objects}}, path
            )
        finally:
            del sys.modules["bench_names"]

    return build


def _flood(mib, container):
    def build(path, quick):
        size = (mib * 2**20) // (16 if quick else 1)
        data = b"\x80\x02" + b"\x8f" * size + b"."
        if container == "bare":
            with open(path, "wb") as file:
                file.write(data)
            return
        plain = io.BytesIO()
        torch.save({"x": torch.ones(1)}, plain)
        with zipfile.ZipFile(plain) as archive, zipfile.ZipFile(path, "w") as copy:
            for member in archive.infolist():
                content = archive.read(member.filename)
                if member.filename.endswith("data.pkl"):
                    content = data
                copy.writestr(member.filename, content)

    return build


def _safetensors_header(entries, metadata_mib):
    def build(path, quick):
        header = {
            f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
            for i in range(entries // (16 if quick else 1))
        }
        if metadata_mib:
            notes = "x" * (metadata_mib * 2**20 // (16 if quick else 1))
            header["__metadata__"] = {"notes": notes}
        encoded = json.dumps(header).encode()
        with open(path, "wb") as file:
            file.write(len(encoded).to_bytes(8, "little") + encoded)

    return build


def _zip_members(path, quick):
    plain = io.BytesIO()
    torch.save(_LAYER, plain)
    with zipfile.ZipFile(plain) as archive, zipfile.ZipFile(path, "w") as copy:
        for member in archive.infolist():
            copy.writestr(member.filename, archive.read(member.filename))
        for i in range(300_000 // (16 if quick else 1)):
            copy.writestr(f"archive/extra/{i}", b"")


CASES = (
    ("bomb", _bomb, "fit"),
    ("large", _large, "fit"),
    ("3 stride-0 2**27", _stride_zero, "from_checkpoint"),
    ("4 shared dicts 60^4", _shared_dicts, "fit"),
    ("5 list DAG depth 34", _list_dag, "fit"),
    ("6 4,000 class names", _class_names(4000, object), "fit"),
    ("6 400 dict-like names", _class_names(400, dict), "fit"),
    ("7 EMPTY_SET zip 4 MiB", _flood(4, "zip"), "fit"),
    ("7 EMPTY_SET zip 16 MiB", _flood(16, "zip"), "fit"),
    ("7 EMPTY_SET bare 2 MiB", _flood(2, "bare"), "fit"),
    ("8 safetensors 300k entries", _safetensors_header(300_000, 0), "fit"),
    ("8 safetensors 23 MiB metadata", _safetensors_header(0, 23), "fit"),
    ("8 zip 300k members", _zip_members, "fit"),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    print("case\tfile MiB\tRSS growth MiB\tMiB per file MiB\tseconds\toutcome")
    with tempfile.TemporaryDirectory() as directory:
        for name, build, call in CASES:
            path = os.path.join(directory, "case.ckpt")
            build(path, args.quick)
            size = os.path.getsize(path) / 2**20
            result = subprocess.run(
                [sys.executable, "-c", _CHILD, path, call],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                print(f"{name}\t{size:.3f}\tcrashed rc={result.returncode}")
                continue
            growth, seconds, outcome = result.stdout.strip().split("\t", 2)
            ratio = float(growth) / size if size else float("nan")
            print(f"{name}\t{size:.3f}\t{growth}\t{ratio:.1f}\t{seconds}\t{outcome}")
            os.unlink(path)


if __name__ == "__main__":
    main()
