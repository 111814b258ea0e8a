from .contract import StateStore
from .sqlite import Store

__all__ = ["StateStore", "Store"]
