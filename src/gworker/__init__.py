"""gworker's server side: the control plane, its store, backends and the ``gw`` CLI."""
