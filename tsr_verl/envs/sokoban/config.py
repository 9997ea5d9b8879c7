"""Constructor options of the Sokoban env and their validation (``make("sokoban", **fields)``).

Kept apart from ``sokoban`` so the option surface (names, defaults, allowed ranges and the
error messages users see for bad values) reads in one place. Bounds sit next to each field
(``tsr_verl.fields.setting``); ``__post_init__`` adds the checks that span fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from tsr_verl.fields import Bounds, check_bounds, setting

OBSERVATION_FORMATS: tuple[str, ...] = ("grid", "grid_coord")
ROOM_SIDE = Bounds(kind=int, ge=3)
"""Each side of ``dim_room`` (the wall border included)."""


@dataclass(frozen=True)
class SokobanConfig:
    """Constructor options of ``SokobanEnv`` (``make("sokoban", **fields)``)."""

    dim_room: tuple[int, int] = (6, 6)
    """Room ``(height, width)`` including the wall border; each >= 3 (a list is accepted)."""
    num_boxes: int = setting(1, kind=int, ge=1)
    """Boxes (and targets) per room, >= 1."""
    max_steps: int = setting(100, kind=int, ge=1)
    """Steps after which the episode is truncated."""
    search_depth: int = setting(300, kind=int, ge=1)
    """Reverse-play budget of the generator (RAGEN's name): the pull states (box layout + player
    region) its breadth-first reverse search expands; larger budgets reach farther displacements.
    The search runs past the budget until every box is off its target, so any value >= 1 works."""
    num_gen_steps: int | None = setting(None, kind=int, ge=1, optional=True)
    """Length of the random walk that carves the floor; None means ``int(1.7 * (h + w))``."""
    max_random_player_moves: int = setting(3, kind=int, ge=0)
    """Random walking steps (at most) the player takes after generation, as in RAGEN; 0 disables."""
    observation_format: str = setting("grid", choices=OBSERVATION_FORMATS)
    """``"grid"`` (rows of symbols) or ``"grid_coord"`` (a coordinate header, then the grid)."""

    def __post_init__(self) -> None:
        dim = self.dim_room
        if not isinstance(dim, list | tuple) or len(dim) != 2 or not all(ROOM_SIDE.accepts(d) for d in dim):
            raise ValueError(f"sokoban.dim_room must be (height, width) with ints >= 3, got {dim!r}")
        object.__setattr__(self, "dim_room", (int(dim[0]), int(dim[1])))
        check_bounds(self, "sokoban")
        interior = (dim[0] - 2) * (dim[1] - 2)
        if self.num_boxes + 2 > interior:
            raise ValueError(
                f"sokoban.num_boxes: {self.num_boxes} box(es) cannot fit a {dim[0]}x{dim[1]} room "
                f"({interior} inner cells; need boxes + 2)"
            )
