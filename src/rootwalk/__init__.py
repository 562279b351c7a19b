"""rootwalk: a caching recursive DNS resolver, with a simulated internet (rootwalk.lab)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
