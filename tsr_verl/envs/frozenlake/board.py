"""FrozenLake maps: symbols, moves, the immutable ``Board``, map text parsing and generation.

A ``Board`` is built once per reset and shared by an env and all its forks, so everything a
step or a search heuristic needs about the map (holes, goal, BFS distance to the goal) is
precomputed here. Cells are flat ints ``r * size + c``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FROZEN, HOLE, GOAL = "_", "O", "G"
PLAYER, PLAYER_IN_HOLE, PLAYER_ON_GOAL = "P", "X", "√"
# Same order and indices as Gymnasium: Left, Down, Right, Up; (a +- 1) % 4 are the perpendiculars.
MOVES: tuple[tuple[int, int], ...] = ((0, -1), (1, 0), (0, 1), (-1, 0))


@dataclass(frozen=True, slots=True)
class Board:
    """One immutable map, shared by an env and all its forks. Cells are ints ``r * size + c``."""

    rows: tuple[str, ...]
    size: int
    start: int
    goal: int
    holes: frozenset[int]
    goal_dist: tuple[int | None, ...]
    """BFS distance of each cell to the goal over non-hole tiles (None: unreachable or a hole)."""

    @classmethod
    def build(cls, rows: Sequence[str], start: int) -> Board:
        n = len(rows)
        flat = "".join(rows)
        holes = frozenset(i for i, ch in enumerate(flat) if ch == HOLE)
        goal = flat.index(GOAL)
        dist: list[int | None] = [None] * (n * n)
        dist[goal] = 0
        queue = deque([goal])
        while queue:
            cell = queue.popleft()
            r, c = divmod(cell, n)
            for dr, dc in MOVES:
                rr, cc = r + dr, c + dc
                nxt = rr * n + cc
                if 0 <= rr < n and 0 <= cc < n and nxt not in holes and dist[nxt] is None:
                    dist[nxt] = dist[cell] + 1  # type: ignore[operator]
                    queue.append(nxt)
        return cls(tuple(rows), n, start, goal, holes, tuple(dist))


def parse_map(map_text: str | Sequence[str]) -> tuple[list[str], int]:
    """Validate a hand-made map (rows of ``_ O G P``; whitespace inside rows and blank lines are
    ignored) and return its rows with ``P`` replaced by frozen ice, plus the start cell (``P``)."""
    lines = map_text.splitlines() if isinstance(map_text, str) else list(map_text)
    rows = ["".join(line.split()) for line in lines]
    rows = [r for r in rows if r]
    n = len(rows)
    if n < 2 or any(len(r) != n for r in rows):
        raise ValueError(f"frozenlake.from_text: the map must be square with side >= 2, got rows {rows}")
    flat = "".join(rows)
    if bad := sorted(set(flat) - {FROZEN, HOLE, GOAL, PLAYER}):
        raise ValueError(f"frozenlake.from_text: unknown symbols {bad}; use _ O G P")
    if flat.count(PLAYER) != 1 or flat.count(GOAL) != 1:
        raise ValueError("frozenlake.from_text: the map needs exactly one P and one G")
    return [r.replace(PLAYER, FROZEN) for r in rows], flat.index(PLAYER)


def generate_board(rng: np.random.Generator, n: int, p: float) -> Board:
    """RAGEN's rule: tiles frozen with probability p, distinct random start and goal, redrawn
    until the goal is reachable from the start. Terminates quickly: adjacent start and goal
    are always connected. ``rng`` is the only source of randomness."""
    while True:
        frozen = rng.random((n, n)) < p
        start, goal = (int(x) for x in rng.choice(n * n, size=2, replace=False))
        flat = [FROZEN if f else HOLE for f in frozen.ravel()]
        flat[start], flat[goal] = FROZEN, GOAL
        board = Board.build(["".join(flat[i * n : (i + 1) * n]) for i in range(n)], start)
        if board.goal_dist[start] is not None:
            return board
