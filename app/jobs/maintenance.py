"""Maintenance jobs. `ping` is the no-op job benchmarks compare against."""
from __future__ import annotations


def ping() -> str:
    return "pong"
