"""Tests of README.md: its code blocks run, and its commands and claims hold.

The Python blocks of README.md are run in order, in one namespace, as a reader
pastes them; the numbers the text gives for them are checked here.
"""

import re
from pathlib import Path

import numpy as np
import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11 or newer")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def python_blocks():
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.M | re.S)


def marked_command(marker):
    """The command in the ```bash block after ``<!-- marker -->``."""
    match = re.search(
        rf"<!-- {marker} -->\n```bash\n(.*?)\n```", README.read_text(), re.S
    )
    assert match, f"no <!-- {marker} --> bash block in README.md"
    return match.group(1)


@pytest.fixture(scope="module")
def readme_namespace():
    """Run every Python block of README.md in order; return the namespaces."""
    pytest.importorskip("pandas", reason="README's examples load the datasets")
    namespace, after_block = {}, []
    for number, block in enumerate(python_blocks()):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        after_block.append(dict(namespace))
    return after_block


def test_readme_python_blocks_run_in_order(readme_namespace):
    """Check that there are blocks, and each one ran to its end."""
    assert len(readme_namespace) == len(python_blocks()) >= 3


def test_readme_quick_start_errors_are_those_the_text_gives(readme_namespace):
    """Check "about 0.4 ppm², against about 120 ppm² ... on the raw windows"."""
    from sklearn.ensemble import RandomForestRegressor

    quick_start = readme_namespace[0]
    X, Y, split = quick_start["X"], quick_start["Y"], quick_start["split"]
    Y_test = np.asarray(Y[split:])
    revin_mse = np.mean((quick_start["Y_hat"] - Y_test) ** 2)
    raw = RandomForestRegressor(random_state=0).fit(X[:split], Y[:split])
    raw_mse = np.mean((raw.predict(X[split:]) - Y_test) ** 2)
    assert 0.3 < revin_mse < 0.5
    assert 100 < raw_mse < 140


def test_readme_several_variates_block_reads_the_layout_from_names(
    readme_namespace,
):
    """Check the macro block: 4 variates and the target GDP, from the names."""
    macro = readme_namespace[1]
    assert macro["X"].shape[1] == 4 * 12
    assert macro["model"].revin_.n_variates_ == 4
    assert list(macro["model"].target_variates_) == [0]


def test_readme_transformer_block_forecasts_in_the_series_units(readme_namespace):
    """Check the RevINTransformer block: forecasts in ppm, near the targets."""
    alone = readme_namespace[2]
    Y_test = alone["Y"][alone["split"] :]
    assert alone["Y_hat"].shape == Y_test.shape
    assert np.mean((alone["Y_hat"] - Y_test) ** 2) < 1.0


def test_readme_torch_command_comes_first_and_pins_the_tested_torch():
    """Check that the CPU torch step is a command before the two commands."""
    text = README.read_text()
    torch_command = marked_command("torch-command")
    assert text.index("<!-- torch-command -->") < text.index("<!-- demo-command -->")
    assert text.index("<!-- demo-command -->") < text.index("<!-- test-command -->")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floor = next(d for d in project["dependencies"] if d.startswith("torch"))
    pinned = re.search(r"torch==([\d.]+)", torch_command).group(1)
    assert floor == f"torch>={pinned.rsplit('.', 1)[0]}"
    assert "whl/cpu" in torch_command


def test_readme_demo_command_installs_the_extra_the_examples_need():
    """Check that the demo command's extra brings pandas (the datasets need it)."""
    demo_command = marked_command("demo-command")
    extra = re.search(r'"\.\[(\w+)\]"', demo_command).group(1)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["optional-dependencies"][extra]
    assert any(r.startswith("pandas") for r in requirements)
