"""Text environments for TSR: Sokoban, FrozenLake, WebShop (and user-registered ones).

Importing nothing from veRL, vLLM or torch: this package is usable (and tested) on its own.
"""

from tsr_verl.envs.core import EnvSpec, StepResult, TextEnv
from tsr_verl.envs.registry import make, make_from_spec, register, registered

register("sokoban", "tsr_verl.envs.sokoban.env:SokobanEnv")
register("frozenlake", "tsr_verl.envs.frozenlake.env:FrozenLakeEnv")
register("webshop", "tsr_verl.envs.webshop.env:WebShopEnv")

__all__ = ["EnvSpec", "StepResult", "TextEnv", "make", "make_from_spec", "register", "registered"]
