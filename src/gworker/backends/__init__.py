from .base import Backend, BackendEvents, CapacityError, ContainerSpec, Placement

__all__ = ["Backend", "BackendEvents", "CapacityError", "ContainerSpec", "Placement"]
