"""Resumable HTTP downloads of the WebShop data files (Google Drive or a mirror), with sha256 checks.

A file is fetched into ``<name>.part``; an interrupted download continues from the part's size
with an HTTP ``Range`` request (a server that ignores it restarts the file). Google Drive
answers large files with an HTML "can't scan for viruses" page whose form carries a confirm
token; ``fetch`` submits that form once. After the download the sha256 is compared with a
maintainer-pinned value (``PINNED_SHA256``) or the one recorded at the first download in
``checksums.json`` next to the data, and recorded there when neither exists.

Example::

    fetch(drive_url("1EgHdxQ_YxqIQlvvq5iKlCrkEKR6-j0Ib"), Path("data/items_shuffle_1000.json"))
"""

from __future__ import annotations

import html
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from tsr_verl.envs.webshop.store_io import WebShopDataError, sha256_file
from tsr_verl.io import write_json

DRIVE_IDS: dict[str, str] = {
    "items_shuffle_1000.json": "1EgHdxQ_YxqIQlvvq5iKlCrkEKR6-j0Ib",
    "items_ins_v2_1000.json": "1IduG0xl544V_A_jv3tHXC0kyFi7PnyBu",
    "items_shuffle.json": "1A2whVgOO0euk5O13n2iYDM0bQRkkRduB",
    "items_ins_v2.json": "1s2j6NgHljiZzQNL3veZaAiyW_qDEgBNi",
    "items_human_ins.json": "14Kb5SPBk_jfdLZ_CDBNitW98QLDlKR5O",
}
"""Google Drive ids of upstream WebShop's data files (from its ``setup.sh``)."""
PINNED_SHA256: dict[str, str | None] = dict.fromkeys(DRIVE_IDS)
"""Maintainer-pinned sha256 per file. None: not pinned yet (they could not be computed on the
offline machine this was written on); the first download's hash is then recorded in
``checksums.json`` and enforced afterwards. Pin the values from a trusted download here."""
CHECKSUMS_FILE = "checksums.json"
BLOCK = 1 << 20
USER_AGENT = "tsr-verl-webshop-download"


def drive_url(file_id: str) -> str:
    """Drive's direct-download endpoint for ``file_id`` (``confirm=t`` skips the virus-scan page)."""
    return f"https://drive.usercontent.google.com/download?id={urllib.parse.quote(file_id)}&export=download&confirm=t"


def _confirm_url(page: str, url: str) -> str | None:
    """The URL that Drive's "download anyway" form submits to, or None if ``page`` has none."""
    form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
    if form is None:
        return None
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(2)))
    action = urllib.parse.urljoin(url, html.unescape(form.group(1)))
    return f"{action}?{urllib.parse.urlencode({k: html.unescape(v) for k, v in fields.items()})}"


def _open(url: str, start: int, timeout: float):  # noqa: ANN202 - an http.client.HTTPResponse
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def fetch(url: str, dest: Path, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part`` (resuming a previous part); return ``dest``."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(2):  # the second attempt follows Drive's confirm form
        start = part.stat().st_size if part.exists() else 0
        try:
            response = _open(url, start, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:  # the part already holds the whole file
                part.replace(dest)
                return dest
            raise
        with response:
            if "text/html" in response.headers.get("Content-Type", ""):
                confirm = _confirm_url(response.read(1 << 20).decode("utf-8", "replace"), url)
                if confirm is None:
                    raise WebShopDataError(f"{url}: got an HTML page instead of {dest.name} (quota or access error?)")
                url = confirm
                continue
            resumed = response.status == 206 and start > 0
            if not resumed:
                start = 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            with (
                open(part, "ab" if resumed else "wb") as fh,
                tqdm(
                    total=total, initial=start, unit="B", unit_scale=True, desc=dest.name, disable=not progress
                ) as bar,
            ):
                while block := response.read(BLOCK):
                    fh.write(block)
                    bar.update(len(block))
        if total is not None and part.stat().st_size != total:
            raise WebShopDataError(
                f"{dest}: download incomplete ({part.stat().st_size} of {total} bytes); rerun to resume"
            )
        part.replace(dest)
        return dest
    raise WebShopDataError(f"{url}: Drive kept answering with a confirmation page for {dest.name}")


def read_checksums(folder: Path) -> dict[str, str]:
    """``checksums.json`` of a data folder (empty if absent)."""
    path = Path(folder) / CHECKSUMS_FILE
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise WebShopDataError(f"{path}: corrupt ({exc}); delete it to re-record checksums") from None


def verify(path: Path, tier: str, record: bool = True) -> str:
    """Check ``path``'s sha256 against the pinned or recorded value (recording it if neither
    exists and ``record``); return it. A mismatch raises ``WebShopDataError``."""
    path = Path(path)
    digest = sha256_file(path)
    recorded = read_checksums(path.parent)
    expected = PINNED_SHA256.get(path.name) or recorded.get(path.name)
    if expected is not None and expected != digest:
        raise WebShopDataError(
            f"{path}: sha256 {digest} does not match the expected {expected}; delete the file and run "
            f"`tsr-verl webshop download --tier {tier} --dest {path.parent}`"
        )
    if record and recorded.get(path.name) != digest:
        write_json({**recorded, path.name: digest}, path.parent / CHECKSUMS_FILE)
    return digest
