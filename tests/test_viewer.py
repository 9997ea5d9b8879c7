"""Episode records, JSONL dumps and the static HTML search viewer (``tsr-verl view``)."""

from __future__ import annotations

import asyncio
import html
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from tsr_verl.cli.viewer import KEPT_COLOR, boards_before, render_board, render_html, write_html
from tsr_verl.envs import make
from tsr_verl.search import Candidate, Context, EpisodeConfig, SearchConfig, SearchDriver
from tsr_verl.search.record import JsonlError, append_jsonl, episode_record, read_jsonl

SCRIPT = '<script>alert("pwned")</script>'
ANSWERS = {
    "sokoban": ["Up", "Left || Down", "Right", SCRIPT + " Down", "Down || Right"],
    "frozenlake": ["Down", "Right", "Right || Down", SCRIPT + " Left", "Up"],
}


class Scripted:
    """Cycles through ``answers`` (each wrapped as ``<think>..</think><answer>..</answer>``);
    the ``<script>`` answers put HTML in the think part, to prove the viewer escapes it."""

    def __init__(self, answers: list[str]) -> None:
        self.answers, self.n = answers, 0

    async def __call__(self, context: Context, k: int, *, greedy: bool = False) -> list[Candidate]:
        out = []
        for _ in range(k):
            a = self.answers[self.n % len(self.answers)]
            think, _, act = a.rpartition(" ") if a.startswith("<script>") else ("plan", "", a)
            text = f"<think>{think} turn {len(context.turns) + 1}</think><answer>{act}</answer>"
            out.append(Candidate(text, token_ids=tuple(range(3 + self.n % 4)), logprobs=(-0.5,) * (3 + self.n % 4)))
            self.n += 1
        return out


def search(name: str, seed: int):
    env = make(name)
    env.reset(seed)
    initial = env.render()
    cfg = SearchConfig(strategy="beam", beam_width=2, num_candidates=2, record_tree=True)
    result = asyncio.run(SearchDriver(Scripted(ANSWERS[name]), cfg, EpisodeConfig(max_turns=4)).run(env, seed=seed))
    spec = {"name": name, "seed": seed, "config": {}}
    return result, initial, episode_record(result, env_spec=spec, meta={"strategy": "beam", "B": 2, "M": 2})


@pytest.fixture(scope="module")
def episodes():
    return {name: search(name, seed) for name, seed in (("sokoban", 3), ("frozenlake", 5))}


@pytest.fixture(scope="module")
def records(episodes):
    return [episodes["sokoban"][2], episodes["frozenlake"][2]]


def grid_of(observation: str) -> str:
    return "".join(observation.split("\n"))


def test_the_initial_observation_is_recorded_not_parsed_from_the_prompt():
    """The record's boards come from the env, whatever the prompt text looks like (here a prompt
    with no ``State:`` block at all, and one whose ``State:`` block shows something else)."""
    for prompt in ("no board here", "Turn 1:\nState:\n#####\n#P_O#\n#####\nYou have 3 actions left."):
        env = make("sokoban")
        env.reset(3)
        initial = env.render()
        messages = [{"role": "system", "content": "rules"}, {"role": "user", "content": prompt}]
        driver = SearchDriver(Scripted(ANSWERS["sokoban"]), SearchConfig(), EpisodeConfig(max_turns=2))
        result = asyncio.run(driver.run(env, messages, seed=3))
        record = episode_record(result)
        assert result.initial_observation == initial != "#####\n#P_O#\n#####"
        assert record["initial_observation"] == initial and record["initial_prompt"] == prompt
        assert record["turns"][0]["observation_before"] == initial
        assert boards_before(record) == [initial, record["turns"][0]["observation"]]
        assert render_board(initial, "sokoban") in render_html([record])


def test_viewer_boards_come_from_the_recorded_observations(records):
    for record in records:
        turns = record["turns"]
        assert boards_before(record) == [record["initial_observation"], *(t["observation"] for t in turns[:-1])]
        assert boards_before(record) == [t["observation_before"] for t in turns]
    # a record without the per-turn copies still draws every board
    turns = [{k: v for k, v in t.items() if k != "observation_before"} for t in records[0]["turns"]]
    bare = {**records[0], "turns": turns}
    assert render_html([bare]) == render_html([records[0]])


@pytest.mark.parametrize("name", ["sokoban", "frozenlake"])
def test_record_matches_the_search_result(episodes, tmp_path, name):
    result, initial, record = episodes[name]
    path = tmp_path / "sub" / "dump.jsonl"
    append_jsonl(path, record)
    append_jsonl(path, record)
    back = read_jsonl(path)
    assert back == [record, record]  # JSON-serializable and lossless
    rec = back[0]
    assert rec["env"]["name"] == name and rec["initial_observation"] == initial
    assert rec["total_return"] == pytest.approx(result.best.total_return)
    assert rec["success"] == result.best.success and rec["end_reason"] == result.best.end_reason
    assert rec["cost"]["proposals"] == result.cost.proposals and rec["meta"]["strategy"] == "beam"
    best = result.best.turns
    assert len(rec["turns"]) == len(best) > 0
    before = initial
    for i, (turn, t) in enumerate(zip(rec["turns"], best, strict=True)):
        assert turn["turn"] == i + 1 and turn["text"] == t.candidate.text
        assert turn["num_tokens"] == len(t.candidate.token_ids)
        assert turn["actions"] == list(t.parsed.actions) and turn["executed"] == list(t.executed)
        assert turn["reward"] == pytest.approx(t.reward) and turn["observation"] == t.observation
        assert turn["observation_before"] == before
        before = t.observation
    # the whole tree: root + every proposed candidate, ids in order
    assert len(rec["tree"]) == len(result.tree) == 1 + result.cost.proposals
    assert [n["id"] for n in rec["tree"]] == list(range(len(rec["tree"])))
    # chosen flags lie exactly on the best path (return_top=1), which the turns point at
    path_ids = [t["node_id"] for t in rec["turns"]]
    assert {n["id"] for n in rec["tree"] if n["chosen"]} == {0, *path_ids}
    for turn in rec["turns"]:
        node = rec["tree"][turn["node_id"]]
        assert node["turn"] == turn["turn"] and node["text"] == turn["text"] and node["kept"]


def test_read_jsonl_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(JsonlError, match=r"bad\.jsonl:3: invalid JSON"):
        read_jsonl(bad)
    bad.write_text("[1, 2]\n")
    with pytest.raises(JsonlError, match=r"bad\.jsonl:1: expected a JSON object"):
        read_jsonl(bad)


def test_html_shows_boards_and_escaped_candidates(records):
    page = render_html(records, title="<b>t</b>")
    assert "&lt;b&gt;t&lt;/b&gt;" in page and "<b>t</b>" not in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    assert page.count('class="card chosen"') == sum(len(r["turns"]) for r in records)
    n_others = sum(len(r["tree"]) - 1 - len(r["turns"]) for r in records)
    assert page.count('class="card candidate') == n_others
    texts = {n["text"] for r in records for n in r["tree"] if n["parent"] is not None}
    assert any(SCRIPT in t for t in texts)
    for text in texts:
        assert html.escape(text) in page
    cells = 0
    for record in records:
        for turn in record["turns"]:
            for ch in set(grid_of(turn["observation_before"])):
                assert f">{html.escape(ch)}</span>" in page
            cells += len(grid_of(turn["observation_before"]))
        cells += len(grid_of(record["turns"][-1]["observation"]))  # final board
    assert page.count('<span class="cell ') == cells
    # env-specific colors: Sokoban walls/boxes, FrozenLake holes/goal
    for css in ("cell wall", "cell box", "cell player", "cell hole", "cell goal", "cell ice"):
        assert f'class="{css}' in page, css


def test_write_html_is_atomic_and_cli_renders(records, tmp_path):
    out = write_html(records, tmp_path / "page.html")
    assert out.read_text(encoding="utf-8") == render_html(records)
    assert not list(tmp_path.glob(".page.html.*"))  # no temp file left behind
    dump = tmp_path / "dump.jsonl"
    for r in records:
        append_jsonl(dump, r)
    cmd = [
        sys.executable,
        "-m",
        "tsr_verl.cli.main",
        "view",
        str(dump),
        "--out",
        str(tmp_path / "v.html"),
        "--limit",
        "1",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "v.html")
    page = Path(proc.stdout.strip()).read_text(encoding="utf-8")
    assert page.count('<section class="episode"') == 1 and 'class="card chosen"' in page


def test_cli_rejects_bad_jsonl_with_file_and_line(records, tmp_path):
    dump = tmp_path / "broken.jsonl"
    append_jsonl(dump, records[0])
    with open(dump, "a", encoding="utf-8") as f:
        f.write("{not json}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tsr_verl.cli.main", "view", str(dump)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert f"{dump}:2" in proc.stderr and not (tmp_path / "broken.html").exists()


# --- a real headless browser renders the page ------------------------------------------------------
def _png_pixels(path: Path) -> np.ndarray:
    """RGB pixels (N x 3) of a PNG: Pillow if installed, else a minimal zlib decoder (8-bit RGB/RGBA)."""
    try:
        from PIL import Image
    except ImportError:
        pass
    else:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.int16).reshape(-1, 3)
    data = path.read_bytes()
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, "unsupported PNG"
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, prev, pixels = zlib.decompress(idat), width * bpp, bytearray(width * bpp), bytearray()
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a, b = line[i - bpp] if i >= bpp else 0, prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            else:
                pred = (0, a, b, (a + b) // 2, 0)[ftype]
            line[i] = (line[i] + pred) & 0xFF
        pixels += line
        prev = line
    return np.frombuffer(bytes(pixels), dtype=np.uint8).reshape(-1, bpp)[:, :3].astype(np.int16)


def _count(pixels: np.ndarray, hex_color: str, tol: int = 6) -> int:
    """Pixels within ``tol`` (per channel) of ``hex_color``."""
    want = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(pixels - want) <= tol).all(axis=1).sum())


def test_headless_chromium_renders_board_and_kept_path(records, tmp_path):
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        if os.environ.get("CI"):  # CI must run the real-browser check, never skip it silently
            pytest.fail("chromium not installed: `make test` installs it (apt-get install chromium)")
        pytest.skip("chromium not installed: apt-get install chromium (or run `make test`)")
    page = write_html(records, tmp_path / "page.html")
    base = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = page.resolve().as_uri()
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="card chosen"') == sum(len(r["turns"]) for r in records)
    assert 'class="cell wall"' in dom.stdout and 'class="cell hole"' in dom.stdout
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,2000", url], capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    pixels = _png_pixels(shot)
    assert len(pixels) == 1200 * 2000
    # the first (Sokoban) episode is on screen: kept-path green, walls, boxes and the player
    assert _count(pixels, KEPT_COLOR) > 3000
    assert _count(pixels, "#37474f") > 3000  # walls
    assert _count(pixels, "#8d6e63") > 300  # boxes
    assert _count(pixels, "#1e88e5") > 300  # player
