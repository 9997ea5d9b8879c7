"""Where WebShop's data lives, the ``tsr-verl webshop download`` command, and clear errors when it is missing.

``resolve_data_dir(data_dir, tier)`` turns the user's setting into a folder holding the tier's
raw files: ``None`` -> ``$TSR_VERL_CACHE/webshop/<tier>`` (filled by the download command); a
path -> that folder; ``synthetic`` / ``synthetic:N`` -> an N-product generated catalog (default
200) in ``$TSR_VERL_CACHE/webshop/synthetic-N``, generated on first use into a temporary folder
and renamed (under a lock, so racing processes generate it once). A missing file raises one
``WebShopDataError`` naming the file and the exact command that fixes it.

``tsr-verl webshop download --tier small|100k|full [--dest DIR] [--base-url URL]`` fetches the
tier's files from Google Drive (or a mirror serving ``<base-url>/<file name>``), resumably,
verifying sha256 (see ``download_http``). ``tsr-verl webshop convert`` builds the catalog store
and goal lists ahead of time (otherwise the first ``open_catalog`` does it).

Example::

    data_dir = resolve_data_dir("synthetic:500", "small")     # generated once, then reused
    download_tier("small", Path("/data/webshop/small"))          # needs network
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tsr_verl.envs.webshop.download_http import DRIVE_IDS, drive_url, fetch, read_checksums, verify
from tsr_verl.envs.webshop.store import TIERS, get_tier
from tsr_verl.envs.webshop.store_io import WebShopDataError, atomic_dir, file_lock

SYNTHETIC_PREFIX = "synthetic"
DEFAULT_SYNTHETIC_PRODUCTS = 200
SYNTHETIC_MARKER = "synthetic.json"
"""Written last into a generated catalog folder; its presence means the folder is complete."""

__all__ = ["WebShopDataError", "add_parser", "default_data_dir", "download_tier", "main", "resolve_data_dir"]


def default_data_dir(tier: str) -> Path:
    """``$TSR_VERL_CACHE/webshop/<tier>`` (the cache root of ``tsr_verl.io.cache_dir``)."""
    from tsr_verl.io import cache_dir

    return cache_dir() / "webshop" / tier


def _download_command(tier: str, folder: Path) -> str:
    dest = "" if folder == default_data_dir(tier) else f" --dest {folder}"
    return f"tsr-verl webshop download --tier {tier}{dest}"


def resolve_data_dir(data_dir: str | Path | None, tier: str = "small") -> Path:
    """The folder holding ``tier``'s raw files; ``WebShopDataError`` if one is missing."""
    spec = get_tier(tier)
    text = None if data_dir is None else str(data_dir)
    if text is not None and (text == SYNTHETIC_PREFIX or text.startswith(SYNTHETIC_PREFIX + ":")):
        count = text.partition(":")[2]
        if count and not count.isdigit():
            raise ValueError(f"data_dir {text!r}: expected 'synthetic' or 'synthetic:<number of products>'")
        return synthetic_data_dir(int(count) if count else DEFAULT_SYNTHETIC_PRODUCTS)
    folder = default_data_dir(spec.name) if text is None else Path(text).expanduser()
    for name in spec.files:
        if not (folder / name).is_file():
            raise WebShopDataError(
                f"WebShop data file {folder / name} is missing (tier {spec.name!r}); run "
                f"`{_download_command(spec.name, folder)}` on a networked machine (or set data_dir to "
                f"'synthetic:200' for a generated test catalog)"
            )
    return folder


def synthetic_data_dir(n_products: int, seed: int = 0) -> Path:
    """The cached ``n_products``-product synthetic catalog (generated atomically on first use)."""
    from tsr_verl.envs.webshop.synthetic import write_synthetic_catalog
    from tsr_verl.io import cache_dir

    if n_products < 1:
        raise ValueError(f"synthetic catalog needs >= 1 product, got {n_products}")
    folder = cache_dir() / "webshop" / (f"{SYNTHETIC_PREFIX}-{n_products}" + ("" if seed == 0 else f"-seed{seed}"))
    if not (folder / SYNTHETIC_MARKER).is_file():
        with file_lock(folder.with_name(folder.name + ".lock")):
            if not (folder / SYNTHETIC_MARKER).is_file():
                with atomic_dir(folder) as tmp:
                    write_synthetic_catalog(tmp, n_products, seed)
                    (tmp / SYNTHETIC_MARKER).write_text(json.dumps({"n_products": n_products, "seed": seed}) + "\n")
    return folder


def download_tier(tier: str, dest: Path | None = None, base_url: str | None = None, progress: bool = True) -> Path:
    """Download (or resume, or verify) every file of ``tier`` into ``dest``; return ``dest``.

    Files already present whose sha256 matches the pinned/recorded value are kept."""
    spec = get_tier(tier)
    dest = Path(dest).expanduser() if dest is not None else default_data_dir(spec.name)
    dest.mkdir(parents=True, exist_ok=True)
    for name in spec.files:
        path = dest / name
        if path.is_file() and name in read_checksums(dest):
            verify(path, spec.name)
            print(f"{path}: present, checksum ok", file=sys.stderr)
            continue
        url = f"{base_url.rstrip('/')}/{name}" if base_url else drive_url(DRIVE_IDS[name])
        if not path.is_file():
            fetch(url, path, progress=progress)
        digest = verify(path, spec.name)
        print(f"{path}: sha256 {digest}", file=sys.stderr)
    return dest


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``webshop download`` / ``webshop convert`` to the ``tsr-verl`` CLI."""
    p = subparsers.add_parser("webshop", help="WebShop data: download the product files, build the store")
    sub = p.add_subparsers(dest="webshop_command", required=True)
    d = sub.add_parser("download", help="download a WebShop data tier (resumable, sha256-checked)")
    d.add_argument("--tier", choices=sorted(TIERS), default="small", help="small (1k), 100k or full (1.18M products)")
    d.add_argument("--dest", type=Path, default=None, help="target folder (default: $TSR_VERL_CACHE/webshop/<tier>)")
    d.add_argument("--base-url", default=None, help="a mirror serving <base-url>/<file name> instead of Google Drive")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")
    d.set_defaults(func=main)
    c = sub.add_parser("convert", help="build the catalog store and goal lists of a tier ahead of time")
    c.add_argument("--tier", choices=sorted(TIERS), default="small", help="which tier")
    c.add_argument("--data-dir", default=None, help="raw files folder, or synthetic:N (default: the download folder)")
    c.add_argument("--cache-dir", type=Path, default=None, help="where the store goes (default: under the cache)")
    c.add_argument("--no-progress", action="store_true", help="hide progress bars")
    c.set_defaults(func=main)
    return p


def main(args: argparse.Namespace) -> int:
    """Run ``webshop download`` or ``webshop convert``; 0 on success, 2 with a message on a data error."""
    try:
        if args.webshop_command == "download":
            print(download_tier(args.tier, args.dest, args.base_url, progress=not args.no_progress))
        else:
            from tsr_verl.envs.webshop.goals import GOAL_KINDS, load_goals
            from tsr_verl.envs.webshop.store import open_catalog

            catalog = open_catalog(
                resolve_data_dir(args.data_dir, args.tier), args.tier, args.cache_dir, progress=not args.no_progress
            )
            sizes = {kind: len(load_goals(catalog, kind, progress=not args.no_progress)) for kind in GOAL_KINDS}
            print(f"{catalog.folder}: {len(catalog)} products, goals {sizes}")
    except (WebShopDataError, OSError) as exc:
        print(f"tsr-verl webshop {args.webshop_command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
