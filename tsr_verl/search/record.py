"""Episode records: one JSON-serializable dict per searched episode, and JSONL dump helpers.

``episode_record(result, env_spec=..., meta=...)`` flattens a ``SearchResult`` into plain JSON
types: the env spec, the initial observation, outcome and cost, every committed turn of the
best trajectory (board before and after, candidate text, parsed and executed actions, reward,
score) and, when the search ran with ``SearchConfig(record_tree=True)``, the whole search tree.
Observations are recorded as the env produced them (``SearchResult.initial_observation`` and
each ``TurnRecord.observation``), never parsed back out of the prompt text.
``tsr_verl.cli.viewer`` renders such records as a static HTML page (``tsr-verl view dump.jsonl``).

Like the rest of ``tsr_verl.search`` this module imports nothing from veRL, vLLM or torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from tsr_verl.search.types import SearchResult, TreeNode

RECORD_VERSION = 1


class JsonlError(ValueError):
    """A JSONL file has a line that is not a JSON object; the message names ``file:line``."""


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return repr(value)


def _best_path_ids(tree: list[TreeNode] | None, leaf: int | None) -> list[int | None]:
    """Tree node ids of the best trajectory's turns, turn 1 first (root excluded)."""
    if tree is None or leaf is None:
        return []
    path, nid = [], leaf
    while nid is not None and nid >= 0 and tree[nid].parent is not None:
        path.append(nid)
        nid = tree[nid].parent
    return path[::-1]


def episode_record(
    result: SearchResult, *, env_spec: dict[str, Any] | Any | None = None, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One episode as a JSON-serializable dict (see the module docstring).

    Args:
        result: what ``SearchDriver.run`` returned.
        env_spec: the episode's env spec (``{"name", "seed", "config"}`` or an ``EnvSpec``).
        meta: free-form extras, e.g. ``{"strategy": "beam", "step": 12}``; the viewer shows them.

    Keys: ``version``, ``env``, ``meta``, ``initial_prompt`` (last initial user message),
    ``initial_observation``, ``total_return``, ``success``, ``end_reason``, ``num_tokens``,
    ``cost`` (``SearchCost`` fields), ``turns`` (best trajectory; each with ``turn``,
    ``observation_before``, ``text``, ``num_tokens``, ``actions``, ``invalid``, ``penalty``,
    ``format_ok``, ``executed``, ``reward``, ``observation``, ``score``, ``terminated``,
    ``truncated``, ``node_id``), ``trajectories`` (summary of all returned ones) and ``tree``
    (list of ``TreeNode`` dicts, or ``None`` when the tree was not recorded)."""
    best = result.best
    users = [m for m in best.context.messages if m.get("role") == "user"]
    prompt = users[-1]["content"] if users else None
    observation = result.initial_observation
    ids = _best_path_ids(result.tree, best.node_id)
    turns = []
    for i, t in enumerate(best.turns):
        turns.append(
            {
                "turn": i + 1,
                "observation_before": observation,
                "text": t.candidate.text,
                "num_tokens": len(t.candidate.token_ids),
                "actions": list(t.parsed.actions),
                "invalid": list(t.parsed.invalid),
                "penalty": t.parsed.penalty,
                "format_ok": t.parsed.format_ok,
                "executed": list(t.executed),
                "reward": t.reward,
                "observation": t.observation,
                "score": t.score,
                "terminated": t.terminated,
                "truncated": t.truncated,
                "node_id": ids[i] if i < len(ids) else None,
            }
        )
        observation = t.observation
    return _jsonable(
        {
            "version": RECORD_VERSION,
            "env": env_spec or {},
            "meta": meta or {},
            "initial_prompt": prompt,
            "initial_observation": result.initial_observation,
            "total_return": best.total_return,
            "success": best.success,
            "end_reason": best.end_reason,
            "num_tokens": best.num_tokens,
            "cost": result.cost,
            "turns": turns,
            "trajectories": [
                {
                    "total_return": t.total_return,
                    "success": t.success,
                    "end_reason": t.end_reason,
                    "num_turns": len(t.turns),
                    "node_id": t.node_id,
                }
                for t in result.trajectories
            ],
            "tree": result.tree,
        }
    )


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``path`` (parent folders are created).

    The line is written with a single ``O_APPEND`` write, so concurrent writers (several
    workers dumping to one file) do not interleave partial lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of a JSONL file (blank lines skipped); ``JsonlError`` names ``file:line`` of
    the first line that is not a JSON object."""
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JsonlError(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(record, dict):
                raise JsonlError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
    return records
