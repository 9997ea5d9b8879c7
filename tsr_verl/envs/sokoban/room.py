"""Sokoban positions: symbols, actions, the immutable ``Room`` and its shared ``RoomLayout``.

``Room`` is one position (walls, targets, boxes, player) with its text form; the generator
(``generate``) produces rooms and the env (``env``) plays them. ``RoomLayout`` is the
part of a room that never changes during an episode (walls, targets, move tables, the static
part of the rendered text), precomputed once per reset and shared by an env and all its forks.
Cells are flat indices ``r * width + c`` throughout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ACTIONS: tuple[str, ...] = ("Up", "Down", "Left", "Right")
DELTAS: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))
"""``(dr, dc)`` of each action, in ``ACTIONS`` order."""
WALL, FLOOR, TARGET, BOX, BOX_ON_TARGET, PLAYER, PLAYER_ON_TARGET = "#", "_", "O", "X", "√", "P", "S"
SYMBOLS: frozenset[str] = frozenset((WALL, FLOOR, TARGET, BOX, BOX_ON_TARGET, PLAYER, PLAYER_ON_TARGET))


@dataclass(frozen=True)
class Room:
    """One Sokoban position. Cells are flat indices ``r * width + c``; cells outside the grid count
    as walls. Immutable, so an env and all its forks can share the fixed parts."""

    height: int
    """Number of rows."""
    width: int
    """Number of columns."""
    walls: frozenset[int]
    """Wall cells."""
    targets: frozenset[int]
    """Target cells (one per box)."""
    boxes: frozenset[int]
    """Box cells (a box may stand on a target)."""
    player: int
    """The player's cell."""

    def __post_init__(self) -> None:
        size = self.height * self.width
        if self.height < 1 or self.width < 1:
            raise ValueError(f"sokoban room: bad size {self.height}x{self.width}")
        if not self.boxes or len(self.boxes) != len(self.targets):
            raise ValueError(f"sokoban room: needs >= 1 box and as many targets as boxes, got {self.describe()}")
        cells = self.walls | self.targets | self.boxes | {self.player}
        if min(cells) < 0 or max(cells) >= size:
            raise ValueError(f"sokoban room: a cell lies outside the {self.height}x{self.width} grid")
        if self.walls & (self.targets | self.boxes) or self.player in self.walls or self.player in self.boxes:
            raise ValueError(f"sokoban room: walls, boxes and player overlap: {self.describe()}")

    def rc(self, cell: int) -> tuple[int, int]:
        """``(row, col)`` of a flat cell index."""
        return divmod(cell, self.width)

    def describe(self) -> str:
        """Short text for error messages."""
        return f"{len(self.boxes)} boxes, {len(self.targets)} targets, player {self.rc(self.player)}"

    def to_text(self) -> str:
        """Rows of symbols joined by newlines (the env's ``"grid"`` observation)."""
        out = []
        for cell in range(self.height * self.width):
            on_target = cell in self.targets
            if cell == self.player:
                ch = PLAYER_ON_TARGET if on_target else PLAYER
            elif cell in self.boxes:
                ch = BOX_ON_TARGET if on_target else BOX
            else:
                ch = WALL if cell in self.walls else TARGET if on_target else FLOOR
            out.append(ch)
        w = self.width
        return "\n".join("".join(out[r * w : (r + 1) * w]) for r in range(self.height))

    @classmethod
    def from_text(cls, text: str) -> Room:
        """Parse rows of ``# _ O X √ P S`` (whitespace inside rows and blank lines are ignored)."""
        rows = ["".join(line.split()) for line in text.splitlines()]
        rows = [r for r in rows if r]
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            raise ValueError(f"sokoban.from_text: rows must be non-empty and equally long, got {rows}")
        flat = "".join(rows)
        if bad := sorted(set(flat) - SYMBOLS):
            raise ValueError(f"sokoban.from_text: unknown symbols {bad}; use {' '.join(sorted(SYMBOLS))}")
        players = [i for i, ch in enumerate(flat) if ch in (PLAYER, PLAYER_ON_TARGET)]
        if len(players) != 1:
            raise ValueError(f"sokoban.from_text: need exactly one player (P or S), found {len(players)}")

        def cells(*symbols: str) -> frozenset[int]:
            return frozenset(i for i, ch in enumerate(flat) if ch in symbols)

        return cls(
            height=len(rows),
            width=len(rows[0]),
            walls=cells(WALL),
            targets=cells(TARGET, BOX_ON_TARGET, PLAYER_ON_TARGET),
            boxes=cells(BOX, BOX_ON_TARGET),
            player=players[0],
        )


class RoomLayout:
    """The immutable part of a room, shared by an env and all its forks."""

    def __init__(self, room: Room) -> None:
        h, w = room.height, room.width
        self.height, self.width, self.walls, self.targets = h, w, room.walls, room.targets
        self.num_boxes = len(room.boxes)
        # moves[a][cell]: the neighbour of cell in direction a, or -1 for a wall / the grid edge.
        self.moves = tuple(
            tuple(
                (r + dr) * w + c + dc
                if 0 <= r + dr < h and 0 <= c + dc < w and (r + dr) * w + c + dc not in room.walls
                else -1
                for r in range(h)
                for c in range(w)
            )
            for dr, dc in DELTAS
        )
        # The rendered grid without boxes and player; a cell's char sits at cell + cell // w.
        chars = [WALL if x in room.walls else TARGET if x in room.targets else FLOOR for x in range(h * w)]
        self.base = [ch for r in range(h) for ch in (*chars[r * w : (r + 1) * w], "\n")][:-1]

    def coordinate_header(self, boxes: frozenset[int], player: int) -> str:
        """TSR_RAGEN's CoordSokoban header for a position on this layout: board size, then
        zero-indexed ``(row, col)`` lists of targets, boxes (off / on target) and the player."""
        targets = self.targets

        def fmt(cells: Iterable[int]) -> str:
            return ", ".join(f"({r}, {c})" for r, c in sorted(divmod(x, self.width) for x in cells))

        lines = [
            f"Coordinates:\nBoard size: {self.height} rows x {self.width} cols (zero-indexed).",
            f"Targets: {fmt(targets)}",
        ]
        for label, cells in (("Boxes", boxes - targets), ("Boxes on target", boxes & targets)):
            if cells:
                lines.append(f"{label}: {fmt(cells)}")
        lines.append(f"{'Player on target' if player in targets else 'Player'}: {fmt((player,))}")
        return "\n".join(lines)
