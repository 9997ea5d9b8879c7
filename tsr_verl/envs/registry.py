"""Name -> environment registry, so users add environments without touching tsr_verl.

``register("maze", "my_pkg.maze:MazeEnv")`` (or the class itself) and then
``make("maze", size=5)`` builds ``MazeEnv(size=5)``. String entry points are imported lazily,
so registering costs nothing until the env is used. ``make`` also accepts a ``"module:Class"``
string directly, which is how a dataset row can name an env no one registered in-process
(e.g. inside a Ray worker).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tsr_verl.envs.core import EnvSpec, TextEnv

EnvFactory = Callable[..., TextEnv]
_REGISTRY: dict[str, str | EnvFactory] = {}


def register(name: str, entry_point: str | EnvFactory, *, overwrite: bool = False) -> None:
    """Register ``entry_point`` (a ``TextEnv`` subclass/factory or ``"module:attr"``) under ``name``."""
    if not name or not isinstance(name, str):
        raise ValueError(f"env name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not overwrite and _REGISTRY[name] != entry_point:
        raise ValueError(f"env {name!r} is already registered ({_REGISTRY[name]!r}); pass overwrite=True")
    _REGISTRY[name] = entry_point


def registered() -> list[str]:
    """Sorted names of all registered environments."""
    return sorted(_REGISTRY)


def _load(entry_point: str) -> EnvFactory:
    module_name, sep, attr = entry_point.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"env entry point must look like 'package.module:ClassName', got {entry_point!r}")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load env entry point {entry_point!r}: {exc}") from exc
    return obj


def make(name: str, **config: Any) -> TextEnv:
    """Build the env registered as ``name`` (or a ``"module:Class"`` path) with ``config``."""
    entry = _REGISTRY.get(name)
    if entry is None:
        if ":" not in name:
            raise ValueError(f"unknown env {name!r}; registered: {registered()} (or pass 'module:Class')")
        entry = name
    factory = _load(entry) if isinstance(entry, str) else entry
    env = factory(**config)
    if not isinstance(env, TextEnv):
        raise TypeError(f"env {name!r} built a {type(env).__name__}, which is not a tsr_verl TextEnv")
    return env


def make_from_spec(spec: EnvSpec | dict[str, Any]) -> tuple[TextEnv, str]:
    """Build the env of ``spec``, reset it to the spec's seed, return ``(env, first observation)``."""
    if not isinstance(spec, EnvSpec):
        spec = EnvSpec.from_row(spec)
    env = make(spec.name, **spec.config)
    return env, env.reset(spec.seed)
