"""The web dashboard: a page and a little JavaScript over a JSON API of the control plane's state,
live through server-sent events. ``server.py`` serves it, ``views.py`` builds what each page
shows, ``auth.py`` decides who may see it."""

from .links import routes
from .server import Dashboard

__all__ = ["Dashboard", "routes"]
