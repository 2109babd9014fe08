"""Reversible Instance Normalization (RevIN) for scikit-learn, with a torch backend."""

from importlib.metadata import PackageNotFoundError, version

from ._long_forecast import to_long_forecast
from ._regressor import RevINRegressor
from ._transformer import InstanceStatistics, RevINTransformer
from ._windows import make_windows

try:
    __version__ = version("sklearn-revin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "InstanceStatistics",
    "RevINRegressor",
    "RevINTransformer",
    "__version__",
    "make_windows",
    "to_long_forecast",
]
