"""RevIN under ``sklearn.set_config(array_api_dispatch=True)``.

scikit-learn refuses dispatch unless ``SCIPY_ARRAY_API=1`` was set before SciPy
was imported, so the checks (tests/array_api_checks.py) run in one fresh
interpreter with it set, as a user's program would; each check is reported by
its own test here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("array_api_strict")  # the test extra installs it

from array_api_checks import CHECKS

SCRIPT = Path(__file__).with_name("array_api_checks.py")


@pytest.fixture(scope="module")
def outcomes():
    """Run every check once in a fresh interpreter; return {name: outcome}."""
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    completed = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    reported = {entry["check"]: entry["outcome"] for entry in map(json.loads, lines)}
    assert completed.returncode == 0, completed.stderr
    return reported


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_array_api_dispatch(outcomes, name):
    """Check one behaviour under dispatch (see tests/array_api_checks.py)."""
    assert outcomes.get(name) == "passed", outcomes.get(name, "not run")
