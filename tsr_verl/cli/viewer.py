"""A static HTML viewer for searched episodes (records from ``tsr_verl.search.record``).

``render_html(records)`` returns one self-contained page (inline CSS, no scripts, no network):
per episode a header (env, seed, return, success, strategy, search cost), then one row per turn
with the board before the turn drawn as colored cells, the chosen candidate (class ``chosen``,
kept-path color ``#2e7d32``) and the other candidates of that turn from the search tree with
their scores (class ``candidate``; those that did not survive beam selection are dimmed).
``tsr-verl view dump.jsonl --out page.html`` is the command-line entry point.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KEPT_COLOR = "#2e7d32"
"""Border/background of the chosen (kept-path) elements."""

# symbol -> (css class, label) per environment; the symbols overlap, so the env decides.
SYMBOLS: dict[str, dict[str, str]] = {
    "sokoban": {
        "#": "wall",
        "_": "floor",
        "O": "target",
        "X": "box",
        "√": "box target",
        "P": "player",
        "S": "player target",
    },
    "frozenlake": {"_": "ice", "O": "hole", "G": "goal", "P": "player", "X": "player hole", "√": "player goal"},
}

CSS = f"""
body{{font:14px/1.4 system-ui,sans-serif;margin:16px;background:#fafafa;color:#212121}}
h1{{font-size:20px}} .episode{{border:1px solid #bdbdbd;background:#fff;margin:0 0 24px;padding:12px}}
.summary{{display:flex;flex-wrap:wrap;gap:6px 16px;margin:4px 0 10px}} .summary b{{color:#555}}
.ok{{color:{KEPT_COLOR};font-weight:bold}} .fail{{color:#c62828;font-weight:bold}}
.turn{{display:flex;gap:16px;align-items:flex-start;border-top:1px solid #e0e0e0;padding:10px 0}}
.turn h3{{margin:0 0 6px;font-size:14px}} .cards{{flex:1;min-width:0}}
.board{{display:inline-grid;gap:1px;background:#9e9e9e;border:1px solid #9e9e9e}}
.cell{{width:26px;height:26px;display:flex;align-items:center;justify-content:center;
 font:bold 13px monospace;box-sizing:border-box;background:#eeeeee;color:#424242}}
.wall{{background:#37474f;color:#90a4ae}} .floor{{background:#eeeeee}} .ice{{background:#e3f2fd}}
.target{{border:3px solid #e53935}} .box{{background:#8d6e63;color:#fff}}
.player{{background:#1e88e5;color:#fff}} .hole{{background:#000;color:#fff}}
.goal{{background:#43a047;color:#fff}} .unknown{{background:#f8bbd0}}
.obs{{white-space:pre;font:12px monospace;margin:0 0 4px;color:#616161}}
.card{{border:2px solid #bdbdbd;border-radius:4px;padding:6px 8px;margin:0 0 6px;background:#fff}}
.card pre{{white-space:pre-wrap;word-break:break-word;margin:4px 0;font:12px monospace}}
.chosen{{border:4px solid {KEPT_COLOR};background:#e8f5e9}}
.chosen .tag{{background:{KEPT_COLOR};color:#fff;padding:1px 8px;border-radius:3px;font-weight:bold}}
.candidate.kept{{border-color:#81c784}} .candidate.dim{{opacity:.45}}
.meta{{color:#616161;font-size:12px}} .final{{margin-top:6px}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else _e(value)


def _env_kind(name: str, observation: str) -> str:
    """``sokoban``/``frozenlake`` by env name, else guessed from the symbols on the board."""
    for kind in SYMBOLS:
        if kind in name.lower():
            return kind
    return "frozenlake" if "G" in observation else "sokoban"


def render_board(observation: str | None, kind: str) -> str:
    """The observation as a grid of colored cells; non-grid lines (coordinate headers of the
    ``grid_coord`` format) are shown above the grid as plain text."""
    if observation is None:
        return '<div class="meta">(board not available)</div>'
    symbols = SYMBOLS.get(kind, {})
    lines = observation.rstrip("\n").split("\n")
    grid_start = len(lines)  # the grid is the trailing block of lines made only of board symbols
    while grid_start > 0 and lines[grid_start - 1] and all(ch in symbols for ch in lines[grid_start - 1]):
        grid_start -= 1
    header, grid = lines[:grid_start], lines[grid_start:]
    out = [f'<div class="obs">{_e(chr(10).join(header))}</div>'] if header else []
    if grid:
        width = max(len(row) for row in grid)
        out.append(f'<div class="board" style="grid-template-columns:repeat({width},26px)">')
        for row in grid:
            for ch in row.ljust(width):
                css = symbols.get(ch, "unknown")
                out.append(f'<span class="cell {css}" title="{_e(css)}">{_e(ch)}</span>')
        out.append("</div>")
    return "".join(out)


def _actions(turn: dict[str, Any]) -> str:
    parts = [
        f"actions: {_e(' | '.join(turn.get('actions') or []) or '-')}",
        f"executed: {_e(' | '.join(turn.get('executed') or []) or '-')}",
    ]
    if turn.get("invalid"):
        parts.append(f"invalid: {_e(' | '.join(turn['invalid']))}")
    return " &middot; ".join(parts)


def _chosen_card(turn: dict[str, Any]) -> str:
    return (
        f'<div class="card chosen"><span class="tag">chosen #{_e(turn.get("node_id"))}</span> '
        f"reward <b>{_num(turn.get('reward'))}</b> &middot; score {_num(turn.get('score'))} &middot; "
        f"{_num(turn.get('num_tokens'))} tokens<pre>{_e(turn.get('text', ''))}</pre>"
        f'<div class="meta">{_actions(turn)}</div></div>'
    )


def _candidate_card(node: dict[str, Any], path_ids: set[int]) -> str:
    state = "kept" if node.get("kept") else "dim"
    where = "same beam" if node.get("parent") in path_ids else f"beam of node {_e(node.get('parent'))}"
    return (
        f'<div class="card candidate {state}"><span class="meta">#{_e(node.get("id"))} ({where}, '
        f"{'kept' if node.get('kept') else 'pruned'})</span> score <b>{_num(node.get('score'))}</b> &middot; "
        f"value {_num(node.get('value'))} &middot; fork reward {_num(node.get('reward'))}"
        f"<pre>{_e(node.get('text', ''))}</pre></div>"
    )


def _summary(record: dict[str, Any]) -> str:
    env, meta, cost = record.get("env") or {}, record.get("meta") or {}, record.get("cost") or {}
    ok = record.get("success")
    items = (
        [
            ("env", env.get("name", "?")),
            ("seed", env.get("seed", "?")),
            ("return", _num(record.get("total_return"))),
            ("end", record.get("end_reason")),
            ("turns", len(record.get("turns") or [])),
            ("tokens kept", record.get("num_tokens")),
        ]
        + [(k, v) for k, v in meta.items()]
        + [
            (k.replace("_", " "), _num(cost[k]))
            for k in (
                "proposal_calls",
                "proposals",
                "tokens_generated",
                "env_steps",
                "forks",
                "proposer_time_s",
                "env_time_s",
            )
            if k in cost
        ]
    )
    if env.get("config"):
        items.append(("config", env["config"]))
    spans = "".join(f"<span><b>{_e(k)}:</b> {v if k == 'return' else _e(v)}</span>" for k, v in items)
    flag = f'<span class="{"ok" if ok else "fail"}">{"success" if ok else "no success"}</span>'
    return f'<div class="summary">{flag}{spans}</div>'


def boards_before(record: dict[str, Any]) -> list[str | None]:
    """The board before each chosen turn, from the recorded observations: the episode's
    ``initial_observation`` before turn 1, then the ``observation`` each turn left behind (the
    turn's own ``observation_before`` only where those are missing)."""
    turns = record.get("turns") or []
    recorded = [record.get("initial_observation"), *(t.get("observation") for t in turns[:-1])]
    return [obs if obs is not None else t.get("observation_before") for obs, t in zip(recorded, turns, strict=False)]


def render_episode(record: dict[str, Any], index: int = 0) -> str:
    """One episode: header, then one row per chosen turn with its board and candidates."""
    env = record.get("env") or {}
    turns = record.get("turns") or []
    kind = _env_kind(str(env.get("name", "")), record.get("initial_observation") or "")
    tree = record.get("tree") or []
    path_ids = {t["node_id"] for t in turns if t.get("node_id") is not None}
    path_ids |= {n["id"] for n in tree if n.get("parent") is None}  # the root
    out = [
        f'<section class="episode" id="episode-{index}"><h2>Episode {index + 1}: '
        f"{_e(env.get('name', '?'))} seed {_e(env.get('seed', '?'))}</h2>{_summary(record)}"
    ]
    for turn, before in zip(turns, boards_before(record), strict=True):
        t = turn.get("turn")
        others = [n for n in tree if n.get("turn") == t and n.get("id") != turn.get("node_id")]
        others.sort(key=lambda n: (n.get("parent") not in path_ids, not n.get("kept"), -(n.get("value") or 0.0)))
        out.append(
            f'<div class="turn"><div><h3>Turn {_e(t)}: board before</h3>'
            f'{render_board(before, kind)}</div><div class="cards">'
            + _chosen_card(turn)
            + "".join(_candidate_card(n, path_ids) for n in others)
            + "</div></div>"
        )
    if turns:
        out.append(f'<div class="final"><h3>Final board</h3>{render_board(turns[-1].get("observation"), kind)}</div>')
    out.append("</section>")
    return "".join(out)


def render_html(records: Sequence[dict[str, Any]], title: str = "TSR search viewer") -> str:
    """The whole page for ``records`` (episode dicts from ``episode_record``)."""
    body = "".join(render_episode(r, i) for i, r in enumerate(records))
    if not records:
        body = "<p>No episodes.</p>"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>"
        f'<p class="meta">{len(records)} episode(s). Chosen turns are outlined in green '
        f"({KEPT_COLOR}); pruned candidates are dimmed.</p>{body}</body></html>\n"
    )


def write_html(
    records: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "TSR search viewer"
) -> Path:
    """Render ``records`` and write the page atomically (temp file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render_html(records, title))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
