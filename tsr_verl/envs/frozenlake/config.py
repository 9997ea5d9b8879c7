"""Constructor options of the FrozenLake env and their validation (``make("frozenlake", **fields)``).

Kept apart from ``frozenlake`` so the option surface (names, defaults, allowed ranges and the
error messages users see for bad values) reads in one place. Bounds sit next to each field
(``tsr_verl.fields.setting``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tsr_verl.fields import check_bounds, setting

OBSERVATION_FORMATS: tuple[str, ...] = ("grid", "grid_coord")


@dataclass(frozen=True)
class FrozenLakeConfig:
    """Constructor options of ``FrozenLakeEnv`` (``make("frozenlake", **fields)``)."""

    size: int = setting(4, kind=int, ge=2)
    """Side length N of the square map (N >= 2)."""
    p: float = setting(0.8, kind=float, gt=0, le=1)
    """Probability that a generated tile is frozen (otherwise it is a hole); 0 < p <= 1."""
    is_slippery: bool = True
    """Whether moves may slip to a perpendicular direction."""
    success_rate: float | None = setting(None, kind=float, ge=0, le=1, optional=True)
    """Probability q of moving in the intended direction when slippery; each perpendicular
    direction gets (1 - q) / 2. ``None`` is Gymnasium's rule (1/3 each); TSR_RAGEN uses 0.8."""
    max_steps: int = setting(100, kind=int, ge=1)
    """Steps after which the episode is truncated."""
    observation_format: str = setting("grid", choices=OBSERVATION_FORMATS)
    """``"grid"`` (rows of symbols) or ``"grid_coord"`` (a header with board size, player and
    goal coordinates, then the grid)."""

    def __post_init__(self) -> None:
        check_bounds(self, "frozenlake")
