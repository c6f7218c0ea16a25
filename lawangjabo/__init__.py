"""Lawang Jabo core: camera registry, districts, map layers and storage (no UI code here)."""

__version__ = "0.1.0"
