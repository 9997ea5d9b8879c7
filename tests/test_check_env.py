"""``check_env`` accepts every built-in env and names the property a broken env violates."""

from __future__ import annotations

import pytest

from tsr_verl.envs import StepResult, TextEnv, make
from tsr_verl.envs.check import EnvCheckError, check_env


@pytest.mark.parametrize(
    ("name", "cfg"),
    [
        ("sokoban", {}),
        ("frozenlake", {"is_slippery": True}),
        ("frozenlake", {"is_slippery": False}),
        ("webshop", {"max_steps": 20}),
    ],
)
def test_builtin_envs_pass(name, cfg):
    check_env(make(name, **cfg))


class Counter(TextEnv):
    """Counts its steps in a list; ``share_list`` forgets to copy it (a classic fork bug)."""

    name, actions, instructions = "counter", ("Up", "Down"), "Count."

    def __init__(self, share_list: bool = False, lucky: bool = False) -> None:
        super().__init__()
        self.share_list, self.lucky, self.steps = share_list, lucky, []

    def reset(self, seed: int) -> str:
        self._seed_rng(seed)
        self.steps = []
        return self.render()

    def step(self, action: str) -> StepResult:
        self._check_action(action)
        self.steps.append(action)
        reward = float(self.rng.random()) if self.lucky else 0.0
        return StepResult(self.render(), reward, False, len(self.steps) >= 6, {})

    def render(self) -> str:
        return f"{len(self.steps)}:{''.join(s[0] for s in self.steps)}"

    success = property(lambda self: False)
    done = property(lambda self: len(self.steps) >= 6)

    def _copy_mutable_state(self) -> None:
        if not self.share_list:
            self.steps = list(self.steps)


def test_a_correct_env_passes_and_a_shared_list_fails():
    check_env(Counter())
    check_env(Counter(lucky=True))
    with pytest.raises(EnvCheckError, match="changed its parent"):
        check_env(Counter(share_list=True))


def test_an_env_with_a_global_random_source_fails():
    import random

    class Global(Counter):
        def step(self, action):
            result = super().step(action)
            return result._replace(reward=random.random())

    with pytest.raises(EnvCheckError, match="different results|unlike its parent"):
        check_env(Global())
