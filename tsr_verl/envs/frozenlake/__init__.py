"""FrozenLake (RAGEN's variant): walk to the goal without falling into a hole, on slippery ice.

``env`` (the ``TextEnv``), ``config`` (its settings), ``board`` (the immutable map shared by
every fork: holes, goal, shortest-path distances).
"""

from tsr_verl.envs.frozenlake.config import FrozenLakeConfig
from tsr_verl.envs.frozenlake.env import FrozenLakeEnv

__all__ = ["FrozenLakeConfig", "FrozenLakeEnv"]
