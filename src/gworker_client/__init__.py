"""gworker's SDK: decorate plain Python, run it in autoscaled containers.

``import gworker_client as gw`` (or ``as modal``: the API follows Modal's).
"""

from . import exception
from ._app import App, LocalEntrypoint
from ._function import Function, FunctionCall, FunctionStats
from ._output import enable_output
from ._retries import Retries

__version__ = "0.1.0"

__all__ = [
    "App",
    "Function",
    "FunctionCall",
    "FunctionStats",
    "LocalEntrypoint",
    "Retries",
    "enable_output",
    "exception",
]
