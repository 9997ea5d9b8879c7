"""Small file helpers shared by every layer: the cache root, and atomic writes (readers never see a
half-written file)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """Where prepared models, catalogs and indexes live: ``$TSR_VERL_CACHE`` or ``~/.cache/tsr_verl``."""
    return Path(os.environ.get("TSR_VERL_CACHE", Path.home() / ".cache" / "tsr_verl")).expanduser()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    Readers never see a half-written file, and a crash leaves the old file (if any) intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write ``rows`` (dicts with nested lists/dicts) to ``path`` as parquet, atomically."""
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)
    return Path(path)


def write_json(data: Any, path: Path) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return Path(path)
