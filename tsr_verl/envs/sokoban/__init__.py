"""Sokoban (RAGEN's variant): push every box onto a target.

``env`` (the ``TextEnv``), ``config`` (its settings), ``room`` (the board state and its text),
``generate`` (reverse-play room generation from a seed), ``solver`` (BFS solver and deadlock
checks used by tests and the ``sokoban`` scorer).
"""

from tsr_verl.envs.sokoban.config import SokobanConfig
from tsr_verl.envs.sokoban.env import SokobanEnv

__all__ = ["SokobanConfig", "SokobanEnv"]
