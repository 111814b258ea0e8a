from .base import Backend, BackendEvents, CapacityError, ContainerSpec

__all__ = ["Backend", "BackendEvents", "CapacityError", "ContainerSpec"]
