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
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax served from this site (_static/mathjax), not from a CDN: the
    # formulas render in an installed copy or on a machine without network.
    "sphinx-mathjax-offline",
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
# "On this page" of a class: fit(), not RevINTransformer.fit().
toc_object_entries_show_parents = "hide"
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
        "install",
        "getting_started",
        "benchmarks",
        "ltsf_benchmark",
        "faq",
        "related",
        "citing",
        "comparison",
        "glossary",
        "changelog",
    )
}

# Matplotlib in the gallery may warn about fonts on a bare machine; that is
# not a documentation error.
warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")


# -- The torch step and the two commands, taken from README.md ---------------
# README.md is the source of truth for them (CI runs its test command), so the
# getting-started page includes them from there instead of a second copy.


def _write_readme_commands():
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    target = DOCS / "generated" / "readme"
    target.mkdir(parents=True, exist_ok=True)
    for marker in ("torch-command", "demo-command", "test-command"):
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


# -- Links to scikit-learn, torch, NumPy and dask, without the network -------
# intersphinx normally downloads each project's objects.inv; the build runs
# without network, so the few names these pages cite are listed here, with
# the address of each on its project's site, and written into small local
# inventories that intersphinx reads instead. A name cited with :class:,
# :func: or :meth: but missing here fails the build (see _unlisted_reference).

OFFLINE_INVENTORIES = {
    "sklearn": (
        "https://scikit-learn.org/stable/",
        "modules/generated/{name}.html#{name}",
        {
            "py:class": [
                "sklearn.base.BaseEstimator",
                "sklearn.base.OneToOneFeatureMixin",
                "sklearn.base.RegressorMixin",
                "sklearn.base.TransformerMixin",
                "sklearn.compose.ColumnTransformer",
                "sklearn.compose.TransformedTargetRegressor",
                "sklearn.ensemble.HistGradientBoostingRegressor",
                "sklearn.ensemble.RandomForestRegressor",
                "sklearn.linear_model.Ridge",
                "sklearn.model_selection.GridSearchCV",
                "sklearn.model_selection.TimeSeriesSplit",
                "sklearn.multioutput.MultiOutputRegressor",
                "sklearn.neural_network.MLPRegressor",
                "sklearn.pipeline.Pipeline",
                "sklearn.preprocessing.FunctionTransformer",
                "sklearn.preprocessing.Normalizer",
                "sklearn.preprocessing.StandardScaler",
            ],
            "py:function": [
                "sklearn.base.clone",
                "sklearn.pipeline.make_pipeline",
                "sklearn.utils.check_array",
            ],
        },
    ),
    "torch": (
        "https://docs.pytorch.org/docs/stable/",
        "generated/{name}.html#{name}",
        {
            "py:class": [
                "torch.nn.LayerNorm",
                "torch.nn.Module",
                # The base class as autodoc names it, on the page of its alias.
                ("torch.nn.modules.module.Module", "torch.nn.Module"),
            ],
            "py:function": ["torch.load", "torch.set_num_threads"],
        },
    ),
    "numpy": (
        "https://numpy.org/doc/stable/",
        "reference/generated/{name}.html#{name}",
        {
            "py:class": ["numpy.ndarray"],
            "py:function": [
                "numpy.copy",
                "numpy.lib.stride_tricks.sliding_window_view",
            ],
        },
    ),
    "dask": (
        "https://docs.dask.org/en/stable/",
        "generated/{name}.html#{name}",
        {
            "py:class": ["dask.array.Array"],
            "py:function": ["dask.array.map_blocks", "dask.array.map_overlap"],
        },
    ),
}


def _check_exists(name):
    """Raise if ``name`` is not an object of its (installed) project."""
    import importlib

    module, _, attribute = name.rpartition(".")
    try:
        importlib.import_module(name.split(".")[0])
    except ImportError:  # an optional project (dask) that is not installed
        return
    while True:
        try:
            getattr(importlib.import_module(module), attribute)
            return
        except ImportError:
            module, _, outer = module.rpartition(".")
            attribute = f"{outer}.{attribute}"
        except AttributeError:
            break
        if not module:
            break
    # A misspelt name would link to a page that does not exist.
    raise RuntimeError(f"OFFLINE_INVENTORIES names no such object: {name}")


def _write_offline_inventories():
    import zlib

    target = DOCS / "generated" / "inventories"
    target.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for project, (base_url, page, roles) in OFFLINE_INVENTORIES.items():
        lines = []
        for role, names in roles.items():
            for entry in names:
                name, documented = entry if isinstance(entry, tuple) else (entry,) * 2
                _check_exists(name)
                uri = page.format(name=documented)
                # "-": the reference shows its own text (``~`` shortens it).
                lines.append(f"{name} {role} 1 {uri} -")
        header = (
            "# Sphinx inventory version 2\n"
            f"# Project: {project}\n"
            "# Version: stable\n"
            "# The remainder of this file is compressed using zlib.\n"
        )
        data = header.encode() + zlib.compress(("\n".join(lines) + "\n").encode())
        path = target / f"{project}.inv"
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        mapping[project] = (base_url, str(path))
    return mapping


intersphinx_mapping = _write_offline_inventories()
intersphinx_disabled_reftypes = ["std:*"]  # no :ref: or :doc: into other projects


def _listed_names():
    return {
        entry[0] if isinstance(entry, tuple) else entry
        for _, _, roles in OFFLINE_INVENTORIES.values()
        for names in roles.values()
        for entry in names
    }


def _unlisted_reference(app, env, node, contnode):
    # Every missing-reference handler runs, intersphinx's too: warn about the
    # names intersphinx cannot know, those not in OFFLINE_INVENTORIES.
    target = node.get("reftarget", "")
    if (
        node.get("refdomain") == "py"
        and target.split(".")[0] in OFFLINE_INVENTORIES
        and target not in _listed_names()
    ):
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "%s is not in OFFLINE_INVENTORIES (docs/conf.py): add it with its "
            "page on its project's site",
            target,
            location=node,
        )


# -- The demo's table, from the CSV the demo writes ---------------------------
# docs/_static/demo_results.csv and docs/_static/demo_forecasts.png are the
# output of one run of the demo; regenerate both with
#   python -m sklearn_revin.demo --output /tmp/demo
#   cp /tmp/demo/results.csv docs/_static/demo_results.csv
#   cp /tmp/demo/forecasts.png docs/_static/demo_forecasts.png


def _demo_number(value):
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:#.3g}"


def _write_demo_table():
    import csv

    with (DOCS / "_static" / "demo_results.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    models = list(dict.fromkeys(row["model"] for row in rows))
    cells = {
        (row["dataset"], row["model"]): (
            f"{_demo_number(float(row['mse']))} "
            f"({float(row['mse_relative_to_naive']):.2f})"
        )
        for row in rows
    }
    lines = [
        ".. Generated by docs/conf.py from docs/_static/demo_results.csv.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :class: demo-table",
        "",
        "   * - model",
        *(f"     - {dataset}" for dataset in datasets),
    ]
    for model in models:
        lines.append(f"   * - {model}")
        lines += [f"     - {cells[dataset, model]}" for dataset in datasets]
    text = "\n".join(lines) + "\n"
    path = DOCS / "generated" / "demo_table.rst.inc"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


_write_demo_table()


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
    app.connect("missing-reference", _unlisted_reference)
