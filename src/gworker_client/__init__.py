"""gworker's SDK: decorate plain Python, run it in autoscaled containers.

``import gworker_client as gw`` (or ``as modal``: the API follows Modal's).
"""

from typing import Any

from . import environments, exception
from ._app import App, LocalEntrypoint
from ._cloud_bucket import CloudBucketMount
from ._cls import Cls, Obj, parameter
from ._container_process import ContainerProcess
from ._context import current_function_call_id, current_input_id, interact, is_local
from ._dict import Dict
from ._function import Function, FunctionCall, FunctionStats
from ._gpu import Gpu
from ._image import Image
from ._network_file_system import NetworkFileSystem
from ._output import enable_output
from ._partial import batched, concurrent, method, on_enter, on_exit
from ._probe import Probe
from ._queue import Queue
from ._retries import Retries
from ._sandbox import Sandbox
from ._schedule import Cron, Period
from ._secret import Secret
from ._server import Server
from ._tunnel import Tunnel
from ._volume import Volume
from ._web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

# Modal's names for the lifecycle hooks.
enter = on_enter
exit = on_exit  # noqa: A001 - Modal's public name

__version__ = "0.1.0"

__all__ = [
    "App",
    "CloudBucketMount",
    "Cls",
    "ContainerProcess",
    "Cron",
    "Dict",
    "Function",
    "FunctionCall",
    "FunctionStats",
    "Gpu",
    "Image",
    "LocalEntrypoint",
    "NetworkFileSystem",
    "Obj",
    "Period",
    "Probe",
    "Queue",
    "Retries",
    "Sandbox",
    "Secret",
    "Server",
    "Tunnel",
    "Volume",
    "asgi_app",
    "batched",
    "concurrent",
    "current_function_call_id",
    "current_input_id",
    "enable_output",
    "enter",
    "environments",
    "exception",
    "exit",
    "fastapi_endpoint",
    "interact",
    "is_local",
    "method",
    "on_enter",
    "on_exit",
    "parameter",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]


def __getattr__(name: str) -> Any:
    # Modal's submodules as attributes (`modal.container_process.ContainerProcess`), for an app
    # that changed only its import line to `import gworker_client as modal`
    from ._modal_import import submodule

    module = submodule(name)
    globals()[name] = module
    return module
