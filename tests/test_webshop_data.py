"""WebShop data tier: raw schemas, the on-disk catalog store, goals and splits, data-path
resolution and the resumable, checksum-verified download (against a local HTTP server)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tsr_verl.envs.webshop import download, download_http, goals, store_io
from tsr_verl.envs.webshop.goals import GoalSet, load_goals, split_of, split_range
from tsr_verl.envs.webshop.store import TIERS, StoreCatalog, Tier, open_catalog
from tsr_verl.envs.webshop.store_convert import draw_price, parse_options, parse_pricing
from tsr_verl.envs.webshop.store_io import WebShopDataError, iter_json_array, iter_json_object
from tsr_verl.envs.webshop.synthetic import SMALL_NAMES, write_synthetic_catalog


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_catalog(tmp_path_factory.mktemp("raw"), n_products=200, seed=0)


@pytest.fixture(scope="module")
def catalog(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> StoreCatalog:
    return open_catalog(raw_dir, "small", tmp_path_factory.mktemp("store"), progress=False)


def _load(path: Path):
    return json.loads(path.read_text())


# --- raw schemas -------------------------------------------------------------------------------
def test_synthetic_catalog_has_the_raw_schemas_and_is_deterministic(raw_dir: Path, tmp_path: Path) -> None:
    products, ins, human = (_load(raw_dir / n) for n in SMALL_NAMES)
    assert isinstance(products, list) and len(products) == 200
    for p in products:
        assert {
            "asin",
            "name",
            "category",
            "query",
            "product_category",
            "full_description",
            "small_description",
            "pricing",
            "customization_options",
            "images",
        } <= set(p)
        for values in p["customization_options"].values():
            assert all(set(v) == {"value", "image"} for v in values)
        assert p["asin"] in ins and {"attributes", "instruction", "instruction_attributes"} <= set(ins[p["asin"]])
    assert len({p["category"] for p in products}) >= 4
    assert any(p["customization_options"] for p in products) and any(not p["customization_options"] for p in products)
    assert any(" to $" in p["pricing"] for p in products) and any(p["pricing"].count("$") == 1 for p in products)
    assert any(isinstance(p["small_description"], str) for p in products)
    entries = [e for lst in human.values() for e in lst]
    assert entries and all({"instruction", "instruction_attributes", "instruction_options"} <= set(e) for e in entries)
    again = write_synthetic_catalog(tmp_path, n_products=200, seed=0)
    assert all((again / n).read_bytes() == (raw_dir / n).read_bytes() for n in SMALL_NAMES)
    assert (again / "items_shuffle.json").read_bytes() == (again / SMALL_NAMES[0]).read_bytes()


def test_store_round_trip_matches_the_raw_products(raw_dir: Path, catalog: StoreCatalog) -> None:
    products, ins = _load(raw_dir / SMALL_NAMES[0]), _load(raw_dir / SMALL_NAMES[1])
    assert len(catalog) == len(products)
    for i in (0, 7, 42, len(products) - 1):
        raw, p = products[i], catalog.product(i)
        assert (p.asin, p.title, p.category) == (raw["asin"], raw["name"], raw["category"])
        assert p.query == raw["query"].lower().strip() and p.attributes == tuple(ins[raw["asin"]]["attributes"])
        assert set(p.options) == {k.lower() for k in raw["customization_options"]}
        assert p.price_range[0] <= p.price <= p.price_range[-1]
        assert catalog.index_of(p.asin) == i and catalog.asin(i) == p.asin and p.asin in catalog
        text = catalog.search_text(i)
        assert text == text.lower() and p.title.lower() in text and p.description.lower() in text
        for name, values in p.options.items():
            assert f"{name}: {', '.join(values)}" in text
    assert catalog.product(3) is catalog.product(3)  # LRU cache
    assert catalog.product(-1).asin == products[-1]["asin"]
    with pytest.raises(IndexError):
        catalog.product(len(products))
    with pytest.raises(KeyError, match="B999"):
        catalog.index_of("B999")
    assert catalog.prices.shape == (len(products),) and isinstance(catalog.prices, np.memmap)


def test_price_and_option_parsing_follow_upstream() -> None:
    assert parse_pricing("$12.99") == (12.99,)
    assert parse_pricing("$10.00 to $20.00") == (10.0, 20.0)
    assert parse_pricing("$1,299.00") == (1299.0,)
    assert parse_pricing("") == parse_pricing(None) == (100.0,)
    assert parse_pricing(["$5.00", "$7.50"]) == (5.0, 7.5)
    options = parse_options(
        {"Color": [{"value": " Black/White ", "image": None}], "Size": None, "Fit": [{"value": "Slim"}]}
    )
    assert options == {"color": ["black | white"], "fit": ["slim"]}
    price = draw_price("B000000001", (10.0, 20.0))
    assert 10.0 <= price <= 20.0 and price == draw_price("B000000001", (10.0, 20.0))
    assert draw_price("B000000002", (10.0, 20.0)) != price


def test_streaming_parser_handles_chunk_boundaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = [1234567, {"a": "x" * 30, "b": [1.5, None, True]}, "héllo", 98765, []]
    (tmp_path / "a.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "o.json").write_text(json.dumps({"k1": 123456, "key_two": {"z": [3]}}), encoding="utf-8")
    monkeypatch.setattr(store_io, "CHUNK_CHARS", 3)
    assert list(iter_json_array(tmp_path / "a.json")) == data
    assert dict(iter_json_object(tmp_path / "o.json")) == {"k1": 123456, "key_two": {"z": [3]}}


def test_skip_rules_keep_the_first_copy_of_an_asin(tmp_path: Path) -> None:
    write_synthetic_catalog(tmp_path, n_products=5)
    products = _load(tmp_path / SMALL_NAMES[0])
    extra = [
        {**products[1], "name": "duplicate"},
        {**products[0], "asin": "nan"},
        {**products[0], "asin": "B0123456789"},
    ]
    (tmp_path / SMALL_NAMES[0]).write_text(json.dumps(products[:3] + extra + products[3:]))
    catalog = open_catalog(tmp_path, "small", tmp_path / "store", progress=False)
    assert [catalog.asin(i) for i in range(len(catalog))] == [p["asin"] for p in products]
    assert catalog.product(1).title == products[1]["name"]
    assert catalog.manifest["skipped"] == 3 and catalog.manifest["raw"] == 8


# --- store reuse, rebuild and tiers ------------------------------------------------------------
def test_store_is_reused_and_rebuilt_when_a_source_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_synthetic_catalog(tmp_path / "raw", n_products=20)
    first = open_catalog(tmp_path / "raw", "small", tmp_path / "c", progress=False)
    built = first.manifest["convert_seconds"], (first.folder / "manifest.json").stat().st_mtime_ns
    calls = []
    monkeypatch.setattr("tsr_verl.envs.webshop.store.build_store", lambda *a, **k: calls.append(a))
    os.utime(tmp_path / "raw" / SMALL_NAMES[0])  # new mtime, same bytes -> sha256 says up to date
    again = open_catalog(tmp_path / "raw", "small", tmp_path / "c", progress=False)
    assert not calls and (again.folder / "manifest.json").stat().st_mtime_ns == built[1]
    monkeypatch.undo()
    write_synthetic_catalog(tmp_path / "raw", n_products=25)
    rebuilt = open_catalog(tmp_path / "raw", "small", tmp_path / "c", progress=False)
    assert len(rebuilt) == 25 and rebuilt.folder == first.folder
    assert not [p for p in rebuilt.folder.parent.iterdir() if p.name.startswith(".small.")]  # no temp leftovers


def test_prefix_tier_reads_the_first_raw_products(raw_dir: Path, catalog: StoreCatalog, tmp_path: Path) -> None:
    prefix = open_catalog(raw_dir, Tier("pfx", *SMALL_NAMES, limit=40), tmp_path, progress=False)
    assert len(prefix) == 40 and [prefix.asin(i) for i in range(40)] == [catalog.asin(i) for i in range(40)]
    assert prefix.search_text(39) == catalog.search_text(39)
    full = open_catalog(raw_dir, "100k", tmp_path, progress=False)  # full-tier names are links
    assert TIERS["100k"].limit == 100_000 and len(full) == len(catalog)


# --- goals and splits --------------------------------------------------------------------------
def test_goals_follow_upstream_rules(raw_dir: Path, catalog: StoreCatalog) -> None:
    products, ins, human = (_load(raw_dir / n) for n in SMALL_NAMES)
    synthetic = load_goals(catalog, "synthetic", progress=False)
    expected = sum(int(np.prod([len(v) for v in p["customization_options"].values()])) for p in products)
    assert len(synthetic) == expected and len(synthetic) > 1500  # 200 products fill all three splits
    assert len(load_goals(catalog, "human", progress=False)) == sum(len(v) for v in human.values())
    for goal in synthetic[:60]:
        product = catalog.product(catalog.index_of(goal.asin))
        assert goal.instruction_text.startswith(ins[goal.asin]["instruction"])
        for name, value in goal.goal_options.items():
            assert f"{name}: {value}" in goal.instruction_text and value in product.options[name]
        if goal.price_upper < goals.NO_PRICE_LIMIT:
            assert goal.price_upper % 10 == 0 and product.price < goal.price_upper <= product.price + 40
            assert goal.instruction_text.endswith(f", and price lower than {goal.price_upper:.2f} dollars")
        else:
            assert product.price >= 980 and "price lower" not in goal.instruction_text
        assert goal.attributes == tuple(ins[goal.asin]["instruction_attributes"]) and goal.name == product.title
        assert 0 < goal.weight <= 1 and goal.extra["product_index"] == catalog.index_of(goal.asin)
    assert [g["instruction_text"] for g in goals.build_goals(catalog)][0].startswith(
        ins[products[0]["asin"]]["instruction"]
    )


def test_human_goals_strip_the_period_and_keep_bare_options(catalog: StoreCatalog) -> None:
    human = load_goals(catalog, "human", progress=False)
    for goal in human[:20]:
        assert isinstance(goal.goal_options, tuple) and goal.kind == "human" and goal.weight == 1.0
        assert ". and price" not in goal.instruction_text and not goal.instruction_text.endswith(".")


def test_splits_are_fixed_and_disjoint(catalog: StoreCatalog) -> None:
    assert [split_of(i) for i in (0, 499, 500, 1499, 1500, 10**7)] == ["test", "test", "val", "val", "train", "train"]
    n = 4000
    ranges = [split_range(name, n) for name in ("test", "val", "train")]
    assert ranges == [range(0, 500), range(500, 1500), range(1500, 4000)]
    assert split_range("val", 700) == range(500, 700) and split_range("train", 700) == range(700, 700)
    synthetic = load_goals(catalog, "synthetic", progress=False)
    parts = [set(synthetic.split(s)) for s in ("test", "val", "train")]
    assert sum(map(len, parts)) == len(synthetic) == len(set.union(*parts))
    with pytest.raises(ValueError, match="unknown split"):
        split_range("dev", 10)


_PROBE = """
import hashlib, json, sys
from tsr_verl.envs.webshop.store import open_catalog
from tsr_verl.envs.webshop.goals import load_goals
c = open_catalog(sys.argv[1], "small", sys.argv[2], progress=False)
h = hashlib.sha256(c.prices.tobytes())
for kind in ("synthetic", "human"):
    g = load_goals(c, kind, progress=False)
    for i in range(len(g)):
        r = g.record(i)
        h.update(json.dumps([r["instruction_text"], r["price_upper"], r["weight"]]).encode())
print(h.hexdigest())
"""


def test_two_processes_build_identical_goals_and_prices(raw_dir: Path, tmp_path: Path, subprocess_env) -> None:
    digests = [
        subprocess.run(
            [sys.executable, "-c", _PROBE, str(raw_dir), str(tmp_path / f"c{k}")],
            check=True,
            capture_output=True,
            text=True,
            env=subprocess_env(PYTHONHASHSEED=str(k)),
        ).stdout.strip()
        for k in (1, 2)
    ]
    assert digests[0] == digests[1] and len(digests[0]) == 64


def test_goal_set_pickles_by_path(catalog: StoreCatalog) -> None:
    import pickle

    synthetic = load_goals(catalog, "synthetic", progress=False)
    clone = pickle.loads(pickle.dumps(synthetic))
    assert isinstance(clone, GoalSet) and clone[5] == synthetic[5] and len(pickle.dumps(catalog)) < 500


# --- errors and data paths ---------------------------------------------------------------------
def test_missing_and_corrupt_files_raise_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WebShopDataError, match=r"items_shuffle_1000.json.*tsr-verl webshop download --tier small"):
        open_catalog(tmp_path, "small", tmp_path / "c", progress=False)
    with pytest.raises(WebShopDataError, match=r"--tier full --dest"):
        download.resolve_data_dir(tmp_path, "full")
    write_synthetic_catalog(tmp_path, n_products=10)
    path = tmp_path / SMALL_NAMES[0]
    path.write_bytes(path.read_bytes()[:-200])  # truncated
    with pytest.raises(WebShopDataError, match=r"items_shuffle_1000.json: not a valid WebShop JSON.*download"):
        open_catalog(tmp_path, "small", tmp_path / "c", progress=False)
    (tmp_path / SMALL_NAMES[1]).write_text("[1, 2]")
    with pytest.raises(WebShopDataError, match="items_ins_v2_1000.json"):
        open_catalog(tmp_path, "small", tmp_path / "c", progress=False)
    assert issubclass(WebShopDataError, ValueError)


def test_resolve_data_dir_generates_a_synthetic_catalog_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSR_VERL_CACHE", str(tmp_path))
    folder = download.resolve_data_dir("synthetic:30", "small")
    assert folder == tmp_path / "webshop" / "synthetic-30" and len(_load(folder / SMALL_NAMES[0])) == 30
    stamp = (folder / download.SYNTHETIC_MARKER).stat().st_mtime_ns
    assert download.resolve_data_dir("synthetic:30", "full") == folder
    assert (folder / download.SYNTHETIC_MARKER).stat().st_mtime_ns == stamp
    assert download.resolve_data_dir("synthetic", "small").name == "synthetic-200"
    with pytest.raises(ValueError, match="synthetic:<number"):
        download.resolve_data_dir("synthetic:many", "small")
    with pytest.raises(WebShopDataError, match=r"--tier small`"):  # default folder: no --dest needed
        download.resolve_data_dir(None, "small")


# --- download ----------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    honor_range = True
    log: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.log.append((self.path, self.headers.get("Range")))
        if self.path.startswith("/uc") and "confirm" not in self.path:  # Drive's virus-scan page
            body = (
                b'<html><form id="f" action="/uc" method="get"><input type="hidden" name="id" value="X">'
                b'<input type="hidden" name="confirm" value="t&amp;1"></form></html>'
            )
            return self._send(200, body, "text/html; charset=utf-8")
        data = self.files.get(self.path.split("?")[0].lstrip("/") if not self.path.startswith("/uc") else "drive")
        if data is None:
            return self._send(404, b"missing", "text/plain")
        ranged = self.headers.get("Range") and self.honor_range
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if ranged else 0
        self._send(206 if start else 200, data[start:], "application/json", start, len(data))

    def _send(self, code: int, body: bytes, ctype: str, start: int = 0, total: int = 0) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(raw_dir: Path):
    _Handler.files = {n: (raw_dir / n).read_bytes() for n in SMALL_NAMES} | {"drive": b'{"ok": 1}'}
    _Handler.log, _Handler.honor_range = [], True
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_resumes_a_partial_file_and_records_checksums(server: str, raw_dir: Path, tmp_path: Path) -> None:
    name = SMALL_NAMES[0]
    data = (raw_dir / name).read_bytes()
    (tmp_path / f"{name}.part").write_bytes(data[:1000])
    assert download.download_tier("small", tmp_path, base_url=server, progress=False) == tmp_path
    assert all((tmp_path / n).read_bytes() == (raw_dir / n).read_bytes() for n in SMALL_NAMES)
    assert (f"/{name}", "bytes=1000-") in _Handler.log and not (tmp_path / f"{name}.part").exists()
    sums = _load(tmp_path / download_http.CHECKSUMS_FILE)
    assert sums[name] == hashlib.sha256(data).hexdigest()
    _Handler.log.clear()
    download.download_tier("small", tmp_path, base_url=server, progress=False)  # present and verified
    assert _Handler.log == []
    (tmp_path / name).write_bytes(data[:-1] + b" ")
    with pytest.raises(WebShopDataError, match=r"does not match.*--tier small --dest"):
        download.download_tier("small", tmp_path, base_url=server, progress=False)


def test_pinned_checksum_mismatch_and_drive_confirm_flow(server: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(download_http.PINNED_SHA256, SMALL_NAMES[1], "0" * 64)
    with pytest.raises(WebShopDataError, match="does not match the expected 0000"):
        download.download_tier("small", tmp_path, base_url=server, progress=False)
    out = download_http.fetch(f"{server}/uc?id=X", tmp_path / "drive.json", progress=False)
    assert out.read_bytes() == b'{"ok": 1}' and any("confirm=t%261" in p for p, _ in _Handler.log)


def test_cli_download_and_convert(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("TSR_VERL_CACHE", str(tmp_path / "cache"))
    parser = argparse.ArgumentParser(prog="tsr-verl")
    download.add_parser(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(
        ["webshop", "download", "--tier", "small", "--dest", str(tmp_path / "d"), "--base-url", server, "--no-progress"]
    )
    assert ns.func(ns) == 0 and (tmp_path / "d" / SMALL_NAMES[2]).is_file()
    ns = parser.parse_args(["webshop", "convert", "--data-dir", str(tmp_path / "d"), "--no-progress"])
    assert ns.func(ns) == 0 and "200 products" in capsys.readouterr().out
    ns = parser.parse_args(["webshop", "convert", "--tier", "full", "--no-progress"])
    assert ns.func(ns) == 2 and "tsr-verl webshop download --tier full" in capsys.readouterr().err


def test_download_restarts_when_the_server_ignores_range(server: str, raw_dir: Path, tmp_path: Path) -> None:
    name = SMALL_NAMES[1]
    (tmp_path / f"{name}.part").write_bytes(b"garbage that is not a prefix")
    _Handler.honor_range = False
    download_http.fetch(f"{server}/{name}", tmp_path / name, progress=False)
    assert (tmp_path / name).read_bytes() == (raw_dir / name).read_bytes()


def test_racing_processes_generate_the_synthetic_catalog_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TSR_VERL_CACHE", str(tmp_path))
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(download.resolve_data_dir("synthetic:60"))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(_load(results[0] / SMALL_NAMES[0])) == 60
    assert sorted(p.name for p in (tmp_path / "webshop").iterdir()) == ["synthetic-60", "synthetic-60.lock"]
