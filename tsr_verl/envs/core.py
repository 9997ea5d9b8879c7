"""The text-environment protocol that every tsr_verl environment implements.

A ``TextEnv`` is a single-agent, turn-based game whose observations are text and whose actions
are words from a fixed vocabulary (``Up``, ``Left``, ...). It follows Gymnasium's ``step``
contract, with three differences that TSR needs:

* ``reset(seed)`` returns the observation text only; the seed is mandatory, because every
  episode of a dataset row must be reproducible from its seed alone.
* ``fork(rng=...)`` returns an independent copy of the *current* state, cheaply: mutable state
  (a few small numpy arrays) is copied, immutable parts (walls, maps, lookup tables) are
  shared. Search strategies step forks to score candidate actions without touching the real
  episode. Rebuilding from the seed and replaying the history (TSR_RAGEN's approach) costs
  2-4 orders of magnitude more; see ``benchmarks/envs.py``.
* every env owns its ``numpy.random.Generator`` (``self.rng``); nothing touches global RNGs,
  so many envs can run concurrently in one process.

Stochastic environments and forks
---------------------------------
``fork(rng="independent")`` (the default) gives the fork a fresh generator spawned from the
parent's seed sequence: its random outcomes (e.g. FrozenLake slips) are reproducible but do not
reveal what will happen in the real episode. Every fork takes its own child index of its
parent's fork namespace, so no two forks of one episode (at any depth, of either kind) share a
stream; ``seed_forks(salt)`` makes episodes that share a seed spawn different streams. ``fork(rng="copy")`` copies the generator state, so
the fork "peeks" at the real future; search code must only use it when explicitly asked to.

``terminated`` vs ``truncated`` (as in Gymnasium): ``terminated`` means the game reached a
terminal state (solved, fell into a hole); ``truncated`` means an external limit (``max_steps``)
stopped it. Success is ``terminated`` with the goal reached (``env.success``).
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple, TypeVar

import numpy as np

from tsr_verl.fields import build

ForkRng = Literal["independent", "copy"]
SALT_MARK = 2**32 - 1
"""First spawn-key word of a salted fork namespace (``seed_forks``); fork counters never reach it."""
FORK_RNG_MODES: tuple[str, ...] = ("independent", "copy")
EnvT = TypeVar("EnvT", bound="TextEnv")
ConfigT = TypeVar("ConfigT")


class StepResult(NamedTuple):
    """What ``TextEnv.step`` returns (Gymnasium's five-tuple with a text observation)."""

    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class TextEnv(ABC):
    """Base class of all text environments. Subclasses implement the abstract methods and
    ``_copy_mutable_state``; everything else (fork, RNG handling) is shared.

    Class attributes a subclass sets:
        name: registry name (``"sokoban"``).
        actions: the action vocabulary, canonical spelling; parsing is case-insensitive.
    """

    name: ClassVar[str] = ""
    actions: ClassVar[tuple[str, ...]] = ()
    lists_actions: ClassVar[bool] = False
    """Show ``available_actions()`` in every turn's prompt (envs whose valid actions change with
    the state, like WebShop's buttons); fixed-vocabulary games leave it off."""

    def __init__(self) -> None:
        self.seed: int | None = None
        self._rng: np.random.Generator | None = None
        self._rng_key: tuple[int, tuple[int, ...]] | None = None  # (entropy, spawn key) of a lazy rng
        self._fork_ns: tuple[int, tuple[int, ...]] | None = None  # seed sequence this env's forks spawn from
        self._forks_made = 0

    @property
    def rng(self) -> np.random.Generator:
        """This env's generator. Independent forks create theirs on first use (most forks of a
        deterministic env never draw), from the same seed sequence numpy's ``spawn`` would use."""
        if self._rng is None:
            if self._rng_key is None:
                self._rng = np.random.default_rng()
            else:
                entropy, key = self._rng_key
                self._rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))
        return self._rng

    @rng.setter
    def rng(self, value: np.random.Generator) -> None:
        self._rng, self._rng_key = value, None

    # --- the API ---------------------------------------------------------------------------------
    @property
    @abstractmethod
    def instructions(self) -> str:
        """Rules of the game for the system prompt: goal, symbols, what each action does."""

    @abstractmethod
    def reset(self, seed: int) -> str:
        """Start the episode determined by ``seed`` and return the first observation.

        Implementations must call ``self._seed_rng(seed)`` first and draw all randomness from
        ``self.rng``."""

    @abstractmethod
    def step(self, action: str) -> StepResult:
        """Apply one action (a canonical word from ``actions``) and return the outcome.

        Raises ``ValueError`` for a word outside the vocabulary (parse text with
        ``tsr_verl.envs.parsing`` first) and ``RuntimeError`` after the episode has ended."""

    @abstractmethod
    def render(self) -> str:
        """The current state as text (the observation the policy sees)."""

    @property
    @abstractmethod
    def success(self) -> bool:
        """Whether the goal has been reached."""

    @property
    @abstractmethod
    def done(self) -> bool:
        """Whether the episode has ended (terminated or truncated); ``step`` then raises."""

    def match_action(self, text: str) -> str | None:
        """The canonical action an answer part names, or ``None`` if it names none.

        The default matches ``actions`` case-insensitively. Envs with a free-form action syntax
        (WebShop's ``search[...]`` / ``click[...]``) override it; the parser calls it per part."""
        wanted = text.strip().lower()
        return next((a for a in self.actions if a.lower() == wanted), None)

    def available_actions(self) -> tuple[str, ...]:
        """Actions valid in the current state (listed in the prompt when ``lists_actions``)."""
        return self.actions

    def seed_splits(self) -> Mapping[str, range] | None:
        """Fixed seed ranges of dataset splits, for envs whose episodes are a fixed, finite list
        with held-out parts (WebShop: goals 0-499 test, 500-1499 val, 1500+ train); None (the
        default) means any seed is valid in any split.

        ``datasets.write_splits`` (and ``tsr-verl make-data``) start a split listed here at its
        range's start unless the user gives a start, and refuse a split that would run past its
        range (or, with a user-given start, past the last valid seed) before writing anything.
        It is a method, not a class constant, because the ranges can depend on the config
        (WebShop's goal kind and catalog decide how many goals there are)."""
        return None

    def fork(self: EnvT, rng: ForkRng = "independent") -> EnvT:
        """Return an independent copy of the current state.

        Args:
            rng: ``"independent"`` gives the fork a new generator spawned from this env's seed
                sequence (reproducible, but uncorrelated with this env's future draws);
                ``"copy"`` duplicates the generator state, so the fork sees the same future
                random outcomes as this env ("peeking"; only for explicit, logged use).
        """
        if rng not in FORK_RNG_MODES:
            raise ValueError(f"fork(rng={rng!r}): expected one of {FORK_RNG_MODES}")
        child = self.__class__.__new__(self.__class__)  # shallow copy, without copy.copy's overhead
        child.__dict__.update(self.__dict__)
        child._copy_mutable_state()
        # Every fork, of either kind, takes the next child index of this env's fork namespace
        # (numpy's spawn() keys), and its own forks spawn below that index: no two forks of one
        # lineage ever get the same seed sequence, however deep (copy forks included, whose own
        # generator continues the parent's stream but whose forks must not replay the parent's).
        entropy, key = self._fork_ns or (self.seed if self.seed is not None else 0, ())
        child._fork_ns, child._forks_made = (entropy, key + (self._forks_made,)), 0
        self._forks_made += 1
        if rng == "copy":
            child._rng, child._rng_key = copy.deepcopy(self.rng), None
        else:  # created lazily on first draw; this env's own stream is never touched
            child._rng, child._rng_key = None, child._fork_ns
        return child

    def seed_forks(self, *salt: int) -> None:
        """Spawn this env's future forks from ``(seed, salt)`` instead of the seed alone.

        Episodes that share a seed (GRPO group members) must not score their candidates on the
        same random draws; the search driver salts the root env with its seed and the episode's
        ``stream``. The env's own generator (the real episode) is unchanged. Each salt value must
        be in ``[0, 2**32)`` (one word of a numpy spawn key, so keys never run into each other).
        """
        if any(isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v < 2**32 for v in salt):
            raise ValueError(f"{self.name}.seed_forks: salt values must be ints in [0, 2**32), got {salt!r}")
        base = self.seed if self.seed is not None else 0
        self._fork_ns, self._forks_made = (base, (SALT_MARK, *(int(v) for v in salt))), 0

    # --- helpers for subclasses ---------------------------------------------------------------
    @abstractmethod
    def _copy_mutable_state(self) -> None:
        """Called on a shallow copy by ``fork``: replace every mutable attribute the episode
        changes (arrays, lists, dicts) with a copy. Immutable parts stay shared."""

    def _seed_rng(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"{self.name}.reset: seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        self._rng, self._rng_key, self._forks_made = None, (self.seed, ()), 0
        self._fork_ns = (self.seed, ())

    def _check_action(self, action: str) -> None:
        if action not in self.actions:
            raise ValueError(f"{self.name}.step: unknown action {action!r}; valid: {', '.join(self.actions)}")
        if self.done:
            raise RuntimeError(f"{self.name}.step: the episode has ended; call reset(seed) first")


def build_config(config_cls: type[ConfigT], env_name: str, overrides: dict[str, Any]) -> ConfigT:
    """``config_cls(**overrides)`` with an error that names the env, the unknown key(s) and the
    valid keys (``tsr_verl.fields.build``; the config's own ``__post_init__`` checks the bounds)."""
    return build(config_cls, overrides, env_name, noun="config key")


@dataclass(frozen=True)
class EnvSpec:
    """Everything needed to recreate one episode: what a dataset row carries to the agent loop."""

    name: str
    """Registry name of the environment (``tsr_verl.envs.make``)."""
    seed: int
    """Episode seed passed to ``reset``."""
    config: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the env constructor (its config dataclass fields)."""

    def to_row(self) -> dict[str, Any]:
        """The form stored in parquet: ``config`` as a JSON string, so that values such as
        ``None`` and nested lists survive Arrow's struct typing unchanged."""
        return {"name": self.name, "seed": self.seed, "config": json.dumps(self.config, sort_keys=True)}

    @classmethod
    def from_row(cls, data: Any) -> EnvSpec:
        """Parse a spec from a dataset row (``to_row`` output or a plain dict); the error names
        what is wrong."""
        if not isinstance(data, dict) or "name" not in data or "seed" not in data:
            raise ValueError(f"env spec must be a dict with 'name', 'seed' and optional 'config', got {data!r}")
        config = data.get("config") or {}
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except json.JSONDecodeError as exc:
                raise ValueError(f"env spec 'config' is not valid JSON: {config!r}") from exc
        if not isinstance(config, dict):
            raise ValueError(f"env spec 'config' must be a mapping, got {config!r}")
        return cls(name=str(data["name"]), seed=int(data["seed"]), config=dict(config))
