"""Optimal Sokoban solver (fewest moves) and simple deadlock tests.

Used to check that generated rooms are solvable, to measure how hard a room is
(``SokobanEnv.optimal_solution_length``) and as a building block for search heuristics.

``solve`` is A* over ``(player cell, box cells)`` where every action is one move. Its heuristic is
the sum over boxes of the box's *push distance* to the nearest target: the fewest pushes that
could bring that box to any target if the other boxes and the player's reachability are ignored.
Each push moves one box one cell and costs one move, so the heuristic never overestimates and
changes by at most 1 per move (consistent): the first solved state popped is optimal. A box on a
cell with no push path to any target (a *dead square*, e.g. a non-target corner) prunes the state.

All public functions take ``(row, col)`` tuples. Cells outside the grid are walls; the grid is
``dim`` if given, else the bounding box of everything passed in.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable

from tsr_verl.envs.sokoban.room import ACTIONS, DELTAS

Cell = tuple[int, int]
DEFAULT_MAX_NODES = 200_000
"""States ``solve`` expands before it gives up and returns None."""
_INF = 1 << 30


class _Grid:
    """A room padded with a wall border so every neighbour index is valid. Cells are
    ``(r + 1) * stride + (c + 1)`` with ``stride = width + 2``."""

    def __init__(self, walls: Iterable[Cell], extra: Iterable[Cell], dim: tuple[int, int] | None) -> None:
        walls = set(walls)
        extra = list(extra)
        if dim is None:
            everything = [*walls, *extra]
            dim = (max(r for r, _ in everything) + 1, max(c for _, c in everything) + 1)
        h, w = dim
        if any(not (0 <= r < h and 0 <= c < w) for r, c in extra):
            raise ValueError(f"sokoban.solver: a box, target or player lies outside the {h}x{w} grid")
        self.stride = w + 2
        self.free = bytearray((h + 2) * self.stride)
        for r in range(h):
            for c in range(w):
                if (r, c) not in walls:
                    self.free[self.idx((r, c))] = 1
        s = self.stride
        self.offs = tuple(dr * s + dc for dr, dc in DELTAS)

    def idx(self, rc: Cell) -> int:
        return (rc[0] + 1) * self.stride + rc[1] + 1

    def rc(self, cell: int) -> Cell:
        r, c = divmod(cell, self.stride)
        return r - 1, c - 1

    def push_distances(self, targets: Iterable[int]) -> list[int]:
        """Fewest pushes from each cell to the nearest target, ignoring other boxes (``_INF`` for
        dead squares and walls). Backwards BFS: a box reaches ``y`` from ``y - d`` when the
        player can stand at ``y - 2d``."""
        free, dist = self.free, [_INF] * len(self.free)
        queue = deque()
        for t in targets:
            dist[t] = 0
            queue.append(t)
        while queue:
            y = queue.popleft()
            for o in self.offs:
                x = y - o
                if free[x] and free[x - o] and dist[x] == _INF:
                    dist[x] = dist[y] + 1
                    queue.append(x)
        return dist


def dead_squares(walls: Iterable[Cell], targets: Iterable[Cell], dim: tuple[int, int] | None = None) -> frozenset[Cell]:
    """Floor cells from which a box can never be pushed onto any target (simple deadlocks; every
    non-target corner is one)."""
    targets = list(targets)
    grid = _Grid(walls, targets, dim)
    dist = grid.push_distances(grid.idx(t) for t in targets)
    return frozenset(grid.rc(x) for x, f in enumerate(grid.free) if f and dist[x] == _INF)


def is_corner_deadlock(walls: Iterable[Cell], targets: Iterable[Cell], box: Cell) -> bool:
    """Whether a box at ``box`` is stuck in a corner: off target, with a wall above or below it
    and a wall left or right of it (it can never move again)."""
    walls, (r, c) = set(walls), box
    if box in set(targets):
        return False
    vertical = (r - 1, c) in walls or (r + 1, c) in walls
    horizontal = (r, c - 1) in walls or (r, c + 1) in walls
    return vertical and horizontal


def solve(
    walls: Iterable[Cell],
    targets: Iterable[Cell],
    boxes: Iterable[Cell],
    player: Cell,
    *,
    dim: tuple[int, int] | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> list[str] | None:
    """A shortest action sequence (``"Up"``, ...) that puts every box on a target.

    Returns ``[]`` if already solved, None if unsolvable or if more than ``max_nodes`` states
    would have to be expanded.
    """
    targets, boxes = list(targets), list(boxes)
    grid = _Grid(walls, [*targets, *boxes, player], dim)
    free, offs = grid.free, grid.offs
    dist = grid.push_distances(grid.idx(t) for t in targets)
    start_boxes = tuple(sorted(grid.idx(b) for b in boxes))
    h0 = sum(dist[b] for b in start_boxes)
    if h0 >= _INF:
        return None
    start = (grid.idx(player), start_boxes)
    parent: dict[tuple[int, tuple[int, ...]], tuple[tuple[int, tuple[int, ...]], int] | None] = {start: None}
    best_g = {start: 0}
    tie = itertools.count()
    heap = [(h0, 0, next(tie), start, h0)]
    expanded = 0
    while heap:
        _, neg_g, _, state, h = heapq.heappop(heap)
        g = -neg_g
        if g > best_g[state]:
            continue  # stale entry
        if h == 0:
            return _path(parent, state)
        expanded += 1
        if expanded > max_nodes:
            return None
        p, bxs = state
        for a, o in enumerate(offs):
            n = p + o
            if not free[n]:
                continue
            nh = h
            if n in bxs:
                beyond = n + o
                if not free[beyond] or beyond in bxs or dist[beyond] >= _INF:
                    continue
                nh = h - dist[n] + dist[beyond]
                nbxs = tuple(sorted(beyond if b == n else b for b in bxs))
            else:
                nbxs = bxs
            child = (n, nbxs)
            if best_g.get(child, _INF) <= g + 1:
                continue
            best_g[child] = g + 1
            parent[child] = (state, a)
            # Ties on f go to deeper states (larger g), which reach the goal sooner.
            heapq.heappush(heap, (g + 1 + nh, -(g + 1), next(tie), child, nh))
    return None


def _path(parent: dict, state: tuple[int, tuple[int, ...]]) -> list[str]:
    actions = []
    while (link := parent[state]) is not None:
        state, a = link
        actions.append(ACTIONS[a])
    return actions[::-1]
