"""Ruang: a self-hosted social audio network (live voice rooms on Janus)."""

__version__ = "0.1.0"
