"""Low-level file helpers of the WebShop data tier: streaming JSON, hashing, locks, atomic folders.

Upstream WebShop ``json.load``s ``items_shuffle.json`` (>1 GB, ~15 GB of Python dicts). The
converter instead streams the top-level array/object one element at a time with
``json.JSONDecoder.raw_decode`` over a sliding text buffer, so memory stays at one chunk plus
one record. Everything that fails because data is missing or malformed raises
``WebShopDataError`` with the file and the command that fixes it.

Example::

    for record in iter_json_array(Path("items_shuffle_1000.json")):
        print(record["asin"])
    for asin, entry in iter_json_object(Path("items_ins_v2_1000.json")):
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHUNK_CHARS = 1 << 22
"""Characters read per refill of the streaming parser's buffer (4 Mi)."""
MAX_RECORD_CHARS = 1 << 26
"""A record that still fails to decode with this many characters buffered is corrupt (64 Mi)."""
_WS = " \t\n\r"


class WebShopDataError(ValueError):
    """WebShop data is missing or corrupt; the message names the file and the fixing command."""


def fix_hint(tier: str) -> str:
    """The command that (re)creates the data of ``tier``."""
    return f"run `tsr-verl webshop download --tier {tier}` (or pass data_dir='synthetic:200' for a generated catalog)"


def _stream(path: Path, opener: str, closer: str, tier: str) -> Iterator[tuple[str | None, Any]]:
    """Yield ``(key, value)`` of a top-level JSON container (key None for arrays)."""
    decoder = json.JSONDecoder()
    bad = f"{path}: not a valid WebShop JSON file"
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise WebShopDataError(f"{path}: file not found; {fix_hint(tier)}") from None
    with fh:
        buf, pos, eof = "", 0, False

        def fill() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            chunk = fh.read(CHUNK_CHARS)
            eof = not chunk
            buf, pos = buf[pos:] + chunk, 0
            return bool(chunk)

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in _WS:
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not fill():
                    return ""

        def decode() -> Any:
            nonlocal pos
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    if len(buf) - pos < MAX_RECORD_CHARS and fill():
                        continue
                    raise WebShopDataError(f"{bad} ({exc.msg} at char {exc.pos}); {fix_hint(tier)}") from None
                # A number or literal cut by the buffer end would decode short; refill and retry.
                if end == len(buf) and not eof and fill():
                    continue
                pos = end
                return value

        if skip_ws() != opener:
            raise WebShopDataError(f"{bad} (expected {opener!r} at the start); {fix_hint(tier)}")
        pos += 1
        first = True
        while True:
            c = skip_ws()
            if c == closer:
                return
            if not first:
                if c != ",":
                    raise WebShopDataError(f"{bad} (expected ',' or {closer!r}); {fix_hint(tier)}")
                pos += 1
                skip_ws()
            first = False
            key = None
            if opener == "{":
                key = decode()
                if skip_ws() != ":":
                    raise WebShopDataError(f"{bad} (expected ':'); {fix_hint(tier)}")
                pos += 1
                skip_ws()
            yield key, decode()
            if eof and pos >= len(buf):
                raise WebShopDataError(f"{bad} (truncated); {fix_hint(tier)}")


def iter_json_array(path: Path, tier: str = "small") -> Iterator[Any]:
    """Stream the elements of a file holding one top-level JSON array."""
    for _, value in _stream(Path(path), "[", "]", tier):
        yield value


def iter_json_object(path: Path, tier: str = "small") -> Iterator[tuple[str, Any]]:
    """Stream the ``(key, value)`` pairs of a file holding one top-level JSON object."""
    for key, value in _stream(Path(path), "{", "}", tier):
        yield str(key), value


def sha256_file(path: Path, progress: Callable[[int], object] | None = None) -> str:
    """Hex sha256 of a file, read in 8 MiB blocks; ``progress(n_bytes)`` after each block."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 23):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (created if needed), so two processes building the
    same store or synthetic catalog do the work once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` (an older ``path`` is
    moved aside first and deleted), so readers never see a half-written folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
