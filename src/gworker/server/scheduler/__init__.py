"""The scheduler, by concern: ``queue`` (inputs and leases), ``fleet`` (containers),
``autoscaler`` (a pure ``desired(snapshot, now)``), ``functions`` and ``state`` (what is held in
memory), and the ``Scheduler`` facade the routes call."""

from .autoscaler import Snapshot, desired
from .facade import Scheduler
from .state import CallState, Container, FunctionState, Input

__all__ = ["CallState", "Container", "FunctionState", "Input", "Scheduler", "Snapshot", "desired"]
