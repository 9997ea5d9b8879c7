"""FrozenLake as a forkable text environment (RAGEN's variant: random map, start and goal per seed).

The agent walks on an N x N frozen lake from its start tile to the goal ``G`` without falling
into a hole ``O``. On slippery ice a move may go sideways (perpendicular to the intended
direction, never backwards). Each ``reset(seed)`` draws a new map whose tiles are frozen with
probability ``p``, with distinct random start and goal tiles, redrawn until a path exists.

Fork cost is what matters for search: the map lives in an immutable ``board.Board``
shared by all forks, and the episode state is a handful of ints and bools, so ``fork`` is a
shallow copy plus a new generator. Slippery steps make exactly one draw from ``self.rng``
(non-slippery steps none), so the streams of a parent and its ``rng="copy"`` forks stay in
lock-step. The config lives in ``config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tsr_verl.envs.core import StepResult, TextEnv, build_config
from tsr_verl.envs.frozenlake.board import (
    FROZEN,
    GOAL,
    HOLE,
    MOVES,
    PLAYER,
    PLAYER_IN_HOLE,
    PLAYER_ON_GOAL,
    Board,
    generate_board,
    parse_map,
)
from tsr_verl.envs.frozenlake.config import FrozenLakeConfig


class FrozenLakeEnv(TextEnv):
    """RAGEN-style FrozenLake: reach ``G`` from ``P`` without falling into an ``O``.

    Symbols: ``P`` player, ``_`` frozen, ``O`` hole, ``G`` goal, ``X`` player in a hole,
    ``√`` player on the goal. Reward 1.0 on reaching the goal, else 0.0. Terminated on a hole or
    the goal; truncated (only if not terminated) when the step count reaches ``max_steps``.
    """

    name = "frozenlake"
    actions = ("Left", "Down", "Right", "Up")

    def __init__(self, **cfg: Any) -> None:
        super().__init__()
        self.config: FrozenLakeConfig = build_config(FrozenLakeConfig, self.name, cfg)
        q = self.config.success_rate
        self._q: float = 1.0 / 3.0 if q is None else float(q)
        self._fixed_board: Board | None = None  # set by from_text: reset keeps this map
        self._board: Board | None = None
        self._pos = self._steps = 0
        self._terminated = self._truncated = False

    @classmethod
    def from_text(cls, map_text: str | Sequence[str], seed: int = 0, **cfg: Any) -> FrozenLakeEnv:
        """An env on a hand-made map (rows of ``_ O G P``; ``P`` marks the start, on ice), reset
        with ``seed`` (which only drives slips). Later ``reset`` calls keep this map."""
        rows, start = parse_map(map_text)
        n = len(rows)
        if cfg.setdefault("size", n) != n:
            raise ValueError(f"frozenlake.from_text: size={cfg['size']} but the map is {n}x{n}")
        env = cls(**cfg)
        env._fixed_board = Board.build(rows, start)
        env.reset(seed)
        return env

    # --- TextEnv API ---------------------------------------------------------------------------
    @property
    def instructions(self) -> str:
        text = (
            "You are on a frozen lake and must walk to the goal without falling into a hole.\n"
            f"Symbols: {PLAYER} you, {FROZEN} frozen ice (safe), {HOLE} hole, {GOAL} goal, "
            f"{PLAYER_IN_HOLE} you fell into a hole, {PLAYER_ON_GOAL} you reached the goal.\n"
            "Actions: Left, Down, Right, Up move one tile; walking into the edge keeps you in place.\n"
            "Reaching the goal gives reward 1; falling into a hole ends the game with reward 0."
        )
        if self.config.is_slippery:
            text += (
                f"\nThe ice is slippery: you move in the intended direction with probability {self._q:.2f}; "
                "otherwise you slide to one of the two perpendicular directions (never backwards)."
            )
        return text

    def reset(self, seed: int) -> str:
        self._seed_rng(seed)
        self._board = self._fixed_board or generate_board(self.rng, self.config.size, self.config.p)
        self._pos = self._board.start
        self._steps = 0
        self._terminated = self._truncated = False
        return self.render()

    def step(self, action: str) -> StepResult:
        self._check_action(action)
        board = self._require_board()
        a = self.actions.index(action)
        moved = a
        if self.config.is_slippery:
            u = self.rng.random()  # exactly one draw per slippery step
            if u >= self._q:
                moved = (a - 1) % 4 if u < self._q + (1.0 - self._q) / 2 else (a + 1) % 4
        new_pos = self._target(moved)
        effective = new_pos != self._pos
        self._pos = new_pos
        self._steps += 1
        reward = 0.0
        if new_pos == board.goal:
            reward, self._terminated = 1.0, True
        elif new_pos in board.holes:
            self._terminated = True
        self._truncated = not self._terminated and self._steps >= self.config.max_steps
        info = {
            "action_effective": effective,
            "intended": action,
            "actual": self.actions[moved],
            "slipped": moved != a,
            "success": self.success,
        }
        return StepResult(self.render(), reward, self._terminated, self._truncated, info)

    def render(self) -> str:
        board = self._require_board()
        r, c = divmod(self._pos, board.size)
        symbol = PLAYER_ON_GOAL if self._pos == board.goal else PLAYER_IN_HOLE if self._pos in board.holes else PLAYER
        rows = list(board.rows)
        rows[r] = rows[r][:c] + symbol + rows[r][c + 1 :]
        grid = "\n".join(rows)
        if self.config.observation_format == "grid_coord":
            gr, gc = divmod(board.goal, board.size)
            header = f"Coordinates: board size {board.size}x{board.size}; player at ({r}, {c}); goal at ({gr}, {gc})."
            return f"{header}\n{grid}"
        return grid

    @property
    def success(self) -> bool:
        return self._board is not None and self._pos == self._board.goal

    @property
    def done(self) -> bool:
        return self._terminated or self._truncated

    def _copy_mutable_state(self) -> None:
        """Nothing to copy: the board is immutable and shared, the rest are ints and bools."""

    # --- read-only helpers for search heuristics --------------------------------------------------
    @property
    def size(self) -> int:
        return self.config.size

    @property
    def steps(self) -> int:
        """Steps taken in this episode."""
        return self._steps

    @property
    def player(self) -> tuple[int, int]:
        return divmod(self._pos, self._require_board().size)

    @property
    def start(self) -> tuple[int, int]:
        return divmod(self._require_board().start, self.size)

    @property
    def goal(self) -> tuple[int, int]:
        return divmod(self._require_board().goal, self.size)

    @property
    def holes(self) -> frozenset[tuple[int, int]]:
        n = self.size
        return frozenset(divmod(h, n) for h in self._require_board().holes)

    def tile(self, r: int, c: int) -> str:
        """The map symbol at (r, c) ignoring the player: ``_``, ``O`` or ``G``."""
        board = self._require_board()
        if not (0 <= r < board.size and 0 <= c < board.size):
            raise IndexError(f"frozenlake.tile: ({r}, {c}) is outside the {board.size}x{board.size} map")
        return board.rows[r][c]

    def shortest_path_length(self, at: tuple[int, int] | None = None) -> int | None:
        """Fewest moves from the player (or from ``at``) to the goal over non-hole tiles (None if
        unreachable)."""
        return self._require_board().goal_dist[self._cell(at)]

    def transition_probs(self, action: str, at: tuple[int, int] | None = None) -> list[tuple[float, tuple[int, int]]]:
        """Where ``action`` takes the player from here (or from ``at``): ``(probability, (r, c))``
        pairs, one per distinct destination (intended first; a bump into the edge stays put)."""
        if action not in self.actions:
            raise ValueError(f"frozenlake: unknown action {action!r}; valid: {', '.join(self.actions)}")
        start = self._cell(at)
        merged: dict[int, float] = {}
        for prob, move in self._move_probs(self.actions.index(action)):
            cell = self._target(move, start)
            merged[cell] = merged.get(cell, 0.0) + prob
        return [(prob, divmod(cell, self.size)) for cell, prob in merged.items()]

    def hole_risk(self, at: tuple[int, int] | None = None) -> float:
        """The smallest probability, over the four actions, of the next step ending in a hole."""
        holes = self.holes
        return min(sum(p for p, cell in self.transition_probs(a, at) if cell in holes) for a in self.actions)

    def outcomes(self, actions: Sequence[str]) -> list[tuple[float, tuple[int, int], bool]]:
        """The exact distribution of playing ``actions`` from the current state, as ``step`` would
        (stopping a branch at a hole or the goal, and every branch at ``max_steps``):
        ``(probability, final (r, c), episode ended)`` per distinct outcome. Lets a scorer rate a
        slippery move by its expectation instead of by a few sampled forks."""
        board = self._require_board()
        states: dict[tuple[int, bool], float] = {(self._pos, self.done): 1.0}
        steps = self._steps
        for action in actions:
            if action not in self.actions:
                raise ValueError(f"frozenlake: unknown action {action!r}; valid: {', '.join(self.actions)}")
            if all(done for _, done in states):
                break
            nxt: dict[tuple[int, bool], float] = {}
            steps += 1
            for (pos, done), p in states.items():
                moves = (
                    [(1.0, pos, done)]
                    if done
                    else [
                        (q, cell, cell == board.goal or cell in board.holes or steps >= self.config.max_steps)
                        for q, move in self._move_probs(self.actions.index(action))
                        for cell in (self._target(move, pos),)
                    ]
                )
                for q, cell, ended in moves:
                    nxt[(cell, ended)] = nxt.get((cell, ended), 0.0) + p * q
            states = nxt
        return [(p, divmod(pos, board.size), done) for (pos, done), p in states.items() if p > 0]

    # --- internals ---------------------------------------------------------------------------------
    def _require_board(self) -> Board:
        if self._board is None:
            raise RuntimeError("frozenlake: no map yet; call reset(seed) first")
        return self._board

    def _cell(self, at: tuple[int, int] | None) -> int:
        if at is None:
            return self._pos
        n = self._require_board().size
        r, c = at
        if not (0 <= r < n and 0 <= c < n):
            raise IndexError(f"frozenlake: ({r}, {c}) is outside the {n}x{n} map")
        return r * n + c

    def _move_probs(self, a: int) -> list[tuple[float, int]]:
        """``(probability, actual move)`` of intending move ``a`` (slips go sideways)."""
        if not self.config.is_slippery:
            return [(1.0, a)]
        side = (1.0 - self._q) / 2
        return [(p, m) for p, m in ((self._q, a), (side, (a - 1) % 4), (side, (a + 1) % 4)) if p > 0]

    def _target(self, move: int, pos: int | None = None) -> int:
        pos = self._pos if pos is None else pos
        n = self._require_board().size
        r, c = divmod(pos, n)
        dr, dc = MOVES[move]
        rr, cc = r + dr, c + dc
        return rr * n + cc if 0 <= rr < n and 0 <= cc < n else pos
