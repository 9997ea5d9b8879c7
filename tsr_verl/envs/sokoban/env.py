"""Sokoban as a forkable text environment, with RAGEN's symbols, rewards and room generator.

The player pushes boxes onto targets in a walled room. Rewards follow gym_sokoban / RAGEN:
-0.1 per step (bumps included), +1 for pushing a box onto a target, -1 for pushing one off,
+10 when every box is on a target (``terminated``). ``truncated`` once ``max_steps`` steps were
taken without success. Rooms come from ``generate.generate_room`` (solvable by construction).

Fork cost is what matters for search: the room layout (``room.RoomLayout``: walls,
targets, move tables, the static part of the rendered text) is immutable and shared by all
forks, and the episode state is a player cell, a frozenset of box cells and a few counters, all
immutable values that ``step`` rebinds. So ``fork`` is a shallow copy plus a new generator;
nothing needs copying. The config lives in ``config``.
"""

from __future__ import annotations

from typing import Any

from tsr_verl.envs.core import StepResult, TextEnv, build_config
from tsr_verl.envs.sokoban.config import SokobanConfig
from tsr_verl.envs.sokoban.generate import generate_room
from tsr_verl.envs.sokoban.room import (
    ACTIONS,
    BOX,
    BOX_ON_TARGET,
    FLOOR,
    PLAYER,
    PLAYER_ON_TARGET,
    TARGET,
    WALL,
    Room,
    RoomLayout,
)
from tsr_verl.envs.sokoban.solver import DEFAULT_MAX_NODES, solve

STEP_PENALTY, BOX_ON_REWARD, BOX_OFF_PENALTY, SOLVED_REWARD = -0.1, 1.0, -1.0, 10.0
_ACTION_INDEX = {a: i for i, a in enumerate(ACTIONS)}


class SokobanEnv(TextEnv):
    """RAGEN-style Sokoban. Symbols: ``#`` wall, ``_`` floor, ``O`` target, ``X`` box, ``√`` box on
    a target, ``P`` player, ``S`` player on a target. Actions: Up, Down, Left, Right.

    ``info`` of every step: ``action_effective`` (the player moved), ``boxes_on_target``,
    ``success``. The properties ``walls``, ``targets``, ``boxes`` and ``player`` give ``(row, col)``
    coordinates for search heuristics.
    """

    name = "sokoban"
    actions = ACTIONS

    def __init__(self, **cfg: Any) -> None:
        super().__init__()
        self.config: SokobanConfig = build_config(SokobanConfig, self.name, cfg)
        self._fixed_room: Room | None = None  # set by from_text: reset keeps this room
        self._layout: RoomLayout | None = None
        self._player = self._steps = self._on_target = 0
        self._boxes: frozenset[int] = frozenset()
        self._terminated = self._truncated = False

    @classmethod
    def from_text(cls, grid_text: str, seed: int = 0, **cfg: Any) -> SokobanEnv:
        """An env on a hand-made room (rows of ``# _ O X √ P S``; needs as many targets as boxes
        and must not be solved already), reset with ``seed``. Later ``reset`` calls keep this room;
        the generator options of the config are unused."""
        room = Room.from_text(grid_text)
        if room.boxes == room.targets:
            raise ValueError("sokoban.from_text: the room is already solved")
        env = cls(**cfg)
        env._fixed_room = room
        env.reset(seed)
        return env

    # --- TextEnv API ---------------------------------------------------------------------------
    @property
    def instructions(self) -> str:
        return (
            "You are playing Sokoban, a box-pushing puzzle on a grid. Goal: push every box onto a target.\n"
            f"Symbols: {WALL} wall, {FLOOR} empty floor, {TARGET} target, {BOX} box, {BOX_ON_TARGET} box on a "
            f"target, {PLAYER} you, {PLAYER_ON_TARGET} you standing on a target.\n"
            "Actions: Up, Down, Left, Right move you one cell. Walking into a box pushes it one cell the same "
            "way, but only if the cell behind it is empty floor or a target: you cannot push a box into a wall "
            "or into another box, you cannot push two boxes at once, and you can never pull a box. A box pushed "
            "into a corner or against a wall may become stuck for good, so plan ahead.\n"
            "Rewards: -0.1 per move, +1 for a box pushed onto a target, -1 for a box pushed off one, "
            "+10 when all boxes are on targets."
        )

    def reset(self, seed: int) -> str:
        self._seed_rng(seed)
        cfg = self.config
        room = self._fixed_room or generate_room(
            self.rng,
            cfg.dim_room,
            cfg.num_boxes,
            cfg.search_depth,
            cfg.num_gen_steps,
            cfg.max_random_player_moves,
        )
        self._layout = RoomLayout(room)
        self._player, self._boxes = room.player, room.boxes
        self._on_target = len(room.boxes & room.targets)
        self._steps = 0
        self._terminated = self._truncated = False
        return self.render()

    def step(self, action: str) -> StepResult:
        self._check_action(action)
        layout = self._require_layout()
        move = layout.moves[_ACTION_INDEX[action]]
        reward = STEP_PENALTY
        nxt = move[self._player]
        moved = False
        if nxt >= 0:
            boxes = self._boxes
            if nxt not in boxes:
                moved = True
            else:
                beyond = move[nxt]
                if beyond >= 0 and beyond not in boxes:
                    moved = True
                    self._boxes = boxes.difference((nxt,)).union((beyond,))
                    targets = layout.targets
                    if beyond in targets:
                        reward += BOX_ON_REWARD
                        self._on_target += 1
                    if nxt in targets:
                        reward += BOX_OFF_PENALTY
                        self._on_target -= 1
            if moved:
                self._player = nxt
        self._steps += 1
        success = self._on_target == layout.num_boxes
        if success:
            reward += SOLVED_REWARD
            self._terminated = True
        self._truncated = not success and self._steps >= self.config.max_steps
        info = {"action_effective": moved, "boxes_on_target": self._on_target, "success": success}
        return StepResult(self.render(), reward, self._terminated, self._truncated, info)

    def render(self) -> str:
        layout = self._require_layout()
        w, targets = layout.width, layout.targets
        chars = layout.base.copy()
        for b in self._boxes:
            chars[b + b // w] = BOX_ON_TARGET if b in targets else BOX
        p = self._player
        chars[p + p // w] = PLAYER_ON_TARGET if p in targets else PLAYER
        grid = "".join(chars)
        if self.config.observation_format == "grid_coord":
            return f"{layout.coordinate_header(self._boxes, p)}\nGrid Map:\n{grid}"
        return grid

    @property
    def success(self) -> bool:
        return self._layout is not None and self._on_target == self._layout.num_boxes

    @property
    def done(self) -> bool:
        return self._terminated or self._truncated

    def _copy_mutable_state(self) -> None:
        """Nothing to copy: the layout is immutable and shared; player, boxes (a frozenset) and
        counters are immutable values that ``step`` rebinds."""

    # --- read-only helpers for search heuristics --------------------------------------------------
    @property
    def dim(self) -> tuple[int, int]:
        """``(height, width)`` of the current room."""
        layout = self._require_layout()
        return layout.height, layout.width

    @property
    def steps(self) -> int:
        """Steps taken in this episode."""
        return self._steps

    @property
    def boxes_on_target(self) -> int:
        return self._on_target

    @property
    def player(self) -> tuple[int, int]:
        return divmod(self._player, self._require_layout().width)

    @property
    def boxes(self) -> frozenset[tuple[int, int]]:
        return self._cells(self._boxes)

    @property
    def targets(self) -> frozenset[tuple[int, int]]:
        return self._cells(self._require_layout().targets)

    @property
    def walls(self) -> frozenset[tuple[int, int]]:
        return self._cells(self._require_layout().walls)

    @property
    def room(self) -> Room:
        """The current position as an immutable ``Room`` (flat cell indices)."""
        layout = self._require_layout()
        return Room(layout.height, layout.width, layout.walls, layout.targets, self._boxes, self._player)

    def optimal_solution(self, max_nodes: int = DEFAULT_MAX_NODES) -> list[str] | None:
        """A shortest action sequence from the current state (None: unsolvable or over budget)."""
        return solve(self.walls, self.targets, self.boxes, self.player, dim=self.dim, max_nodes=max_nodes)

    def optimal_solution_length(self, max_nodes: int = DEFAULT_MAX_NODES) -> int | None:
        """Fewest moves that solve the room from the current state (None: unsolvable or over budget)."""
        solution = self.optimal_solution(max_nodes)
        return None if solution is None else len(solution)

    # --- internals ---------------------------------------------------------------------------------
    def _require_layout(self) -> RoomLayout:
        if self._layout is None:
            raise RuntimeError("sokoban: no room yet; call reset(seed) first")
        return self._layout

    def _cells(self, cells: frozenset[int]) -> frozenset[tuple[int, int]]:
        w = self._require_layout().width
        return frozenset(divmod(x, w) for x in cells)
