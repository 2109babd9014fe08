"""Peak memory of reading a deflate bomb and a large checkpoint, run by hand.

Run by hand, never as a test::

    python benchmarks/bench_checkpoint_memory.py

Each case runs in a fresh Python process, which reports how much its peak
resident memory (``ru_maxrss``) grew while ``RevINTransformer(checkpoint=...)
.fit`` read the file:

- ``bomb``: a torch.save archive rewritten with deflate, one member of 1 GiB
  of zeros (1 MiB on disk), which torch would inflate before any check;
- ``large``: a plain torch.save file of a model with a 512 MiB weight beside
  its RevIN layer: mapped from the file, of which only the two RevIN tensors
  are read.

Results are printed; the docs' checkpoint page quotes them.
"""

import os
import subprocess
import sys
import tempfile
import zipfile

import torch

_CHILD = """
import resource, sys
import numpy as np
from sklearn_revin import RevINTransformer
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    RevINTransformer(checkpoint=sys.argv[1]).fit(np.ones((2, 3, 4)))
    outcome = "loaded"
except ValueError as error:
    outcome = str(error)[:70] + "..."
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{(after - before) / 1024:.1f} MiB; {outcome}")
"""


def _bomb(directory):
    plain = os.path.join(directory, "plain.pt")
    layer = {"revin.gamma": torch.ones(3, 1), "revin.beta": torch.ones(3, 1)}
    torch.save(layer | {"big": torch.zeros(1)}, plain)
    bomb = os.path.join(directory, "bomb.pt")
    with (
        zipfile.ZipFile(plain) as archive,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for member in archive.infolist():
            if not member.filename.endswith("data/2"):
                copy.writestr(member.filename, archive.read(member.filename))
                continue
            with copy.open(member.filename, "w") as zeros:
                chunk = bytes(2**20)
                for _ in range(1024):
                    zeros.write(chunk)
    return bomb


def _large(directory):
    path = os.path.join(directory, "large.pt")
    layer = {"revin.gamma": torch.ones(3, 1), "revin.beta": torch.ones(3, 1)}
    torch.save(layer | {"head.weight": torch.ones(2**27)}, path)
    return path


def main():
    with tempfile.TemporaryDirectory() as directory:
        for name, build in (("bomb", _bomb), ("large", _large)):
            path = build(directory)
            size = os.path.getsize(path) / 2**20
            result = subprocess.run(
                [sys.executable, "-c", _CHILD, path],
                capture_output=True,
                text=True,
                check=True,
            )
            print(f"{name} ({size:.1f} MiB on disk): {result.stdout.strip()}")


if __name__ == "__main__":
    main()
