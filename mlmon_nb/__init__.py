"""mlmon_nb: Jupyter-driven monitoring for ML models in production.

Public names are re-exported here; nothing runs at import beyond defining them.
"""

from .config import Config, load_config
from .errors import (
    BaselineError,
    ConfigError,
    MlmonError,
    ParameterError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusTimeout,
    PrometheusUnreachable,
    RunbookError,
    StackError,
)

__version__ = "0.1.0"

__all__ = [
    "Config",
    "load_config",
    "MlmonError",
    "ConfigError",
    "PrometheusError",
    "PrometheusUnreachable",
    "PrometheusQueryError",
    "PrometheusTimeout",
    "BaselineError",
    "StackError",
    "RunbookError",
    "ParameterError",
    "__version__",
]
