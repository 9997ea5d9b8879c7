"""Constructor options of the Sokoban env and their validation (``make("sokoban", **fields)``).

Kept apart from ``sokoban`` so the option surface (names, defaults, allowed ranges and the
error messages users see for bad values) reads in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

OBSERVATION_FORMATS: tuple[str, ...] = ("grid", "grid_coord")


@dataclass(frozen=True)
class SokobanConfig:
    """Constructor options of ``SokobanEnv`` (``make("sokoban", **fields)``)."""

    dim_room: tuple[int, int] = (6, 6)
    """Room ``(height, width)`` including the wall border; each >= 3 (a list is accepted)."""
    num_boxes: int = 1
    """Boxes (and targets) per room, >= 1."""
    max_steps: int = 100
    """Steps after which the episode is truncated."""
    search_depth: int = 300
    """Reverse-play budget of the generator (RAGEN's name): the pull states (box layout + player
    region) its breadth-first reverse search expands; larger budgets reach farther displacements.
    The search runs past the budget until every box is off its target, so any value >= 1 works."""
    num_gen_steps: int | None = None
    """Length of the random walk that carves the floor; None means ``int(1.7 * (h + w))``."""
    max_random_player_moves: int = 3
    """Random walking steps (at most) the player takes after generation, as in RAGEN; 0 disables."""
    observation_format: str = "grid"
    """``"grid"`` (rows of symbols) or ``"grid_coord"`` (a coordinate header, then the grid)."""

    def __post_init__(self) -> None:
        def is_int(x: Any, lo: int) -> bool:
            return not isinstance(x, bool) and isinstance(x, Integral) and x >= lo

        dim = self.dim_room
        if not isinstance(dim, list | tuple) or len(dim) != 2 or not all(is_int(d, 3) for d in dim):
            raise ValueError(f"sokoban: dim_room must be (height, width) with ints >= 3, got {dim!r}")
        object.__setattr__(self, "dim_room", (int(dim[0]), int(dim[1])))
        interior = (dim[0] - 2) * (dim[1] - 2)
        if not is_int(self.num_boxes, 1):
            raise ValueError(f"sokoban: num_boxes must be an int >= 1, got {self.num_boxes!r}")
        if self.num_boxes + 2 > interior:
            raise ValueError(
                f"sokoban: {self.num_boxes} box(es) cannot fit a {dim[0]}x{dim[1]} room "
                f"({interior} inner cells; need boxes + 2)"
            )
        for key in ("max_steps", "search_depth"):
            if not is_int(getattr(self, key), 1):
                raise ValueError(f"sokoban: {key} must be an int >= 1, got {getattr(self, key)!r}")
        if self.num_gen_steps is not None and not is_int(self.num_gen_steps, 1):
            raise ValueError(f"sokoban: num_gen_steps must be None or an int >= 1, got {self.num_gen_steps!r}")
        if not is_int(self.max_random_player_moves, 0):
            raise ValueError(
                f"sokoban: max_random_player_moves must be an int >= 0, got {self.max_random_player_moves!r}"
            )
        if self.observation_format not in OBSERVATION_FORMATS:
            raise ValueError(
                f"sokoban: observation_format must be one of {OBSERVATION_FORMATS}, got {self.observation_format!r}"
            )
