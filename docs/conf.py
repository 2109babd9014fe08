"""Sphinx configuration of the sklearn-revin documentation.

Build with warnings as errors, as CI does::

    python -m sphinx -W -b html docs docs/_build/html
"""

import os
import re
import warnings
from pathlib import Path

import sklearn_revin

# The gallery and the plot directive draw off screen; no display is needed.
os.environ.setdefault("MPLBACKEND", "Agg")

DOCS = Path(__file__).resolve().parent

# -- Project -----------------------------------------------------------------

project = "sklearn-revin"
author = "The sklearn-revin developers"
copyright = "the sklearn-revin developers, BSD-3-Clause"
release = sklearn_revin.__version__
version = ".".join(release.split(".")[:2])

# -- Extensions --------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# The plot directive runs the code of a figure at build time, next to the text
# that explains it, so the figures are always those of the current code.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.autolayout": True}

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "doc_module": ("sklearn_revin",),
    "reference_url": {"sklearn_revin": None},
    "backreferences_dir": "generated/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "min_reported_time": 1,
    "within_subsection_order": "FileNameSortKey",
    # No sg_execution_times.rst files in the source tree.
    "write_computation_times": False,
}

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-revin {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {
    "logo": {"text": "sklearn-revin"},
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# Pages without sub-pages: no empty "Section Navigation" column.
html_sidebars = {
    page: []
    for page in (
        "index",
        "getting_started",
        "benchmarks",
        "comparison",
        "glossary",
        "changelog",
    )
}

# Matplotlib in the gallery may warn about fonts on a bare machine; that is
# not a documentation error.
warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")


# -- The two commands, taken from README.md ----------------------------------
# README.md is the source of truth for them (CI runs its test command), so the
# getting-started page includes them from there instead of a second copy.


def _write_readme_commands():
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    target = DOCS / "generated" / "readme"
    target.mkdir(parents=True, exist_ok=True)
    for marker in ("demo-command", "test-command"):
        found = re.search(
            rf"<!-- {marker} -->\s*```\w*\n(.*?)\n```", readme, flags=re.DOTALL
        )
        if found is None:
            raise RuntimeError(f"README.md has no <!-- {marker} --> code block.")
        path = target / f"{marker}.sh"
        text = found.group(1).strip() + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


_write_readme_commands()


# -- Every public name is in the API reference -------------------------------


def _public_names():
    import sklearn_revin.nn

    names = {f"sklearn_revin.{name}" for name in sklearn_revin.__all__}
    names.discard("sklearn_revin.__version__")
    names |= {f"sklearn_revin.nn.{name}" for name in sklearn_revin.nn.__all__}
    try:
        import sklearn_revin.datasets as datasets
    except ImportError:
        pass
    else:
        names |= {f"sklearn_revin.datasets.{name}" for name in datasets.__all__}
    return names


def _documented_names(api_text):
    documented = set()
    module = None
    in_autosummary = False
    for line in api_text.splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line.strip())
        if current:
            module = current.group(1)
            continue
        if line.strip().startswith(".. autosummary::"):
            in_autosummary = True
            continue
        if in_autosummary:
            entry = line.strip()
            if not entry or entry.startswith(":"):
                continue
            if not line.startswith("   "):
                in_autosummary = False
                continue
            documented.add(f"{module}.{entry}" if module else entry)
    return documented


def _check_api_reference(app):
    from sphinx.util import logging

    api_text = (DOCS / "api.rst").read_text(encoding="utf-8")
    missing = sorted(_public_names() - _documented_names(api_text))
    if missing:
        logging.getLogger(__name__).warning(
            "public names missing from docs/api.rst: %s", ", ".join(missing)
        )


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    # scikit-learn generates set_{method}_request for metadata routing; their
    # docstrings point into scikit-learn's own documentation, and they are
    # documented there.
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _check_api_reference)
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
