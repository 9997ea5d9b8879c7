"""Argument types shared by the ``tsr-verl`` sub-commands."""

from __future__ import annotations

import argparse
import json


def key_value(text: str) -> tuple[str, object]:
    """``key=value`` with ``value`` parsed as JSON when possible (``dim_room=[8,8]``, ``p=0.9``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw
