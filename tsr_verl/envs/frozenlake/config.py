"""Constructor options of the FrozenLake env and their validation (``make("frozenlake", **fields)``).

Kept apart from ``frozenlake`` so the option surface (names, defaults, allowed ranges and the
error messages users see for bad values) reads in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

OBSERVATION_FORMATS: tuple[str, ...] = ("grid", "grid_coord")


@dataclass(frozen=True)
class FrozenLakeConfig:
    """Constructor options of ``FrozenLakeEnv`` (``make("frozenlake", **fields)``)."""

    size: int = 4
    """Side length N of the square map (N >= 2)."""
    p: float = 0.8
    """Probability that a generated tile is frozen (otherwise it is a hole); 0 < p <= 1."""
    is_slippery: bool = True
    """Whether moves may slip to a perpendicular direction."""
    success_rate: float | None = None
    """Probability q of moving in the intended direction when slippery; each perpendicular
    direction gets (1 - q) / 2. ``None`` is Gymnasium's rule (1/3 each); TSR_RAGEN uses 0.8."""
    max_steps: int = 100
    """Steps after which the episode is truncated."""
    observation_format: str = "grid"
    """``"grid"`` (rows of symbols) or ``"grid_coord"`` (a header with board size, player and
    goal coordinates, then the grid)."""

    def __post_init__(self) -> None:
        def bad(x: Any, kind: type, lo: float, hi: float, lo_open: bool = False) -> bool:
            if isinstance(x, bool) or not isinstance(x, kind):
                return True
            return not (lo < x <= hi if lo_open else lo <= x <= hi)

        q, inf = self.success_rate, float("inf")
        if bad(self.size, Integral, 2, inf):
            raise ValueError(f"frozenlake: size must be an int >= 2, got {self.size!r}")
        if bad(self.p, Real, 0, 1, lo_open=True):
            raise ValueError(f"frozenlake: p (probability of a frozen tile) must be in (0, 1], got {self.p!r}")
        if q is not None and bad(q, Real, 0, 1):
            raise ValueError(f"frozenlake: success_rate must be None or in [0, 1], got {q!r}")
        if bad(self.max_steps, Integral, 1, inf):
            raise ValueError(f"frozenlake: max_steps must be an int >= 1, got {self.max_steps!r}")
        if self.observation_format not in OBSERVATION_FORMATS:
            raise ValueError(
                f"frozenlake: observation_format must be one of {OBSERVATION_FORMATS}, got {self.observation_format!r}"
            )
