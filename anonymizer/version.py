"""The package version (one place; low in the import order so every layer may read it)."""

__version__ = "0.1.0"
