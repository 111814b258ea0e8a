from .base import Backend, BackendEvents, CapacityError, LaunchSpec, Mount, Placement

__all__ = ["Backend", "BackendEvents", "CapacityError", "LaunchSpec", "Mount", "Placement"]
