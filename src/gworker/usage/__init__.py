"""Usage and cost: the price table, the server's meter, and the reports built from its records."""

from .prices import DEFAULT_PRICES, PriceError, Prices, load_prices, prices_path

__all__ = ["DEFAULT_PRICES", "PriceError", "Prices", "load_prices", "prices_path"]
