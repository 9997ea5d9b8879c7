"""Write train/val/test parquet files of episodes for veRL's RL dataset.

One row per episode seed. Columns are what ``verl.utils.dataset.rl_dataset.RLHFDataset`` reads
(``data_source``, chat ``prompt``, ``ability``, ``reward_model``, ``extra_info``) plus
``agent_name``, which selects the veRL agent loop per row (``tsr_agent`` searches during
training; ``tsr_eval`` plays validation/test episodes without search, so evaluation measures
the policy alone). ``extra_info.env`` is the ``EnvSpec`` the agent loop rebuilds the episode
from; the stored ``prompt`` is the conversation's first two messages for that episode.

Seed ranges of the splits must be disjoint (checked before anything is written, and again on
the generated rows). Envs with fixed splits (``TextEnv.seed_splits``, e.g. WebShop's goal list)
supply each split's default start and bounds instead of ``DEFAULT_SEED_STARTS``.
All files are written atomically, with a ``manifest.json`` describing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tsr_verl.envs.core import EnvSpec
from tsr_verl.envs.parsing import ParseConfig
from tsr_verl.envs.prompts import PromptConfig, initial_messages
from tsr_verl.envs.registry import make
from tsr_verl.io import write_json, write_parquet

DEFAULT_SEED_STARTS: dict[str, int] = {"train": 0, "val": 1_000_000, "test": 2_000_000}
"""Where each split's seeds start by default: far apart, so sizes can grow without overlap (envs
with fixed splits override them through ``TextEnv.seed_splits``)."""
DEFAULT_AGENTS: dict[str, str] = {"train": "tsr_agent", "val": "tsr_eval", "test": "tsr_eval"}


@dataclass(frozen=True)
class Split:
    """One output file: ``size`` episodes with seeds ``start_seed .. start_seed + size - 1``."""

    name: str
    """File stem (``train`` -> ``train.parquet``)."""
    size: int
    """Number of episodes (rows)."""
    start_seed: int
    """First episode seed."""
    agent_name: str
    """veRL agent loop for these rows."""

    @property
    def seeds(self) -> range:
        return range(self.start_seed, self.start_seed + self.size)


def plan_splits(
    sizes: Mapping[str, int],
    seed_starts: Mapping[str, int] | None = None,
    agents: Mapping[str, str] | None = None,
    seed_ranges: Mapping[str, range] | None = None,
    env_name: str = "the env",
) -> list[Split]:
    """Build and validate the split plan; raise ``ValueError`` naming overlapping splits.

    ``seed_ranges`` is the env's ``TextEnv.seed_splits()``: a split it lists starts at its range
    unless ``seed_starts`` names it (the user's start wins), and must fit (``check_seed_ranges``)."""
    ranges = dict(seed_ranges or {})
    starts = {**DEFAULT_SEED_STARTS, **{k: r.start for k, r in ranges.items()}, **(seed_starts or {})}
    names = {**DEFAULT_AGENTS, **(agents or {})}
    splits = []
    for name, size in sizes.items():
        if size < 0:
            raise ValueError(f"split {name!r}: size must be >= 0, got {size}")
        if name not in starts:
            raise ValueError(f"split {name!r}: no seed start given (known: {sorted(starts)})")
        if starts[name] < 0:
            raise ValueError(f"split {name!r}: seed start must be >= 0, got {starts[name]}")
        splits.append(Split(name, size, starts[name], names.get(name, "tsr_agent")))
    check_disjoint(splits)
    if ranges:
        check_seed_ranges(splits, ranges, set(seed_starts or ()), env_name)
    return splits


def _span(seeds: range) -> str:
    return f"seeds {seeds.start}..{seeds.stop - 1}" if seeds else "no seeds"


def check_seed_ranges(splits: list[Split], ranges: Mapping[str, range], user_started: set[str], env_name: str) -> None:
    """Raise ``ValueError`` if a split leaves the env's fixed seed ranges: one at its default
    start must stay inside its own range (no held-out seed in another split), one with a
    user-given start below the largest range's end (the number of episodes the env has)."""
    total = max((r.stop for r in ranges.values()), default=0)
    for split in splits:
        if not split.size:
            continue
        own = None if split.name in user_started else ranges.get(split.name)
        if own is not None and split.seeds.stop > own.stop:
            raise ValueError(
                f"split {split.name!r}: {split.size} episodes need {_span(split.seeds)}, but {env_name}'s "
                f"{split.name} split has only {len(own)} ({_span(own)}); ask for at most {len(own)} "
                f"(--{split.name} {len(own)}) or use more data"
            )
        if split.seeds.stop > total:
            raise ValueError(
                f"split {split.name!r}: {split.size} episodes need {_span(split.seeds)}, but {env_name} has "
                f"only {total} episodes (seeds 0..{total - 1})"
            )


def check_disjoint(splits: list[Split]) -> None:
    """Raise ``ValueError`` if two splits share a seed."""
    nonempty = sorted((s for s in splits if s.size), key=lambda s: s.start_seed)
    for a, b in zip(nonempty, nonempty[1:], strict=False):
        if b.start_seed < a.start_seed + a.size:
            raise ValueError(
                f"seed ranges overlap: {a.name} uses seeds [{a.start_seed}, {a.start_seed + a.size}) and "
                f"{b.name} starts at {b.start_seed}; choose disjoint --seed-start values"
            )


def episode_row(
    spec: EnvSpec,
    index: int,
    split: Split,
    max_actions: int,
    parse: ParseConfig,
    prompt: PromptConfig,
) -> dict[str, Any]:
    """One dataset row for the episode ``spec``."""
    env = make(spec.name, **spec.config)
    observation = env.reset(spec.seed)
    return {
        "data_source": f"tsr_verl/{spec.name}",
        "agent_name": split.agent_name,
        "prompt": initial_messages(env, observation, max_actions, parse, prompt),
        "ability": "agent",
        # The reward comes from the environment, through the agent loop; nothing to match.
        "reward_model": {"style": "env", "ground_truth": ""},
        "extra_info": {"index": index, "split": split.name, "seed": spec.seed, "env": spec.to_row()},
    }


def write_splits(
    out_dir: Path,
    env_name: str,
    env_config: Mapping[str, Any] | None = None,
    sizes: Mapping[str, int] | None = None,
    seed_starts: Mapping[str, int] | None = None,
    max_actions: int = 10,
    parse: ParseConfig | None = None,
    prompt: PromptConfig | None = None,
    progress: bool = True,
    agents: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Write ``<out_dir>/<split>.parquet`` for every split and ``manifest.json``; return the paths.

    ``env_config`` is validated by building the env once before any episode is generated; its
    ``seed_splits()`` gives the default starts and bounds (``plan_splits``). ``agents`` overrides
    the agent loop per split (default ``DEFAULT_AGENTS``).
    """
    config = dict(env_config or {})
    parse, prompt = parse or ParseConfig(), prompt or PromptConfig()
    if max_actions < 1:
        raise ValueError(f"max_actions must be >= 1, got {max_actions}")
    env = make(env_name, **config)  # fail fast on a bad env name or config
    default_sizes = {"train": 1024, "val": 128, "test": 256}
    splits = plan_splits(sizes or default_sizes, seed_starts, agents, env.seed_splits(), env_name)
    rows_by_split: dict[str, list[dict[str, Any]]] = {}
    total = sum(s.size for s in splits)
    with tqdm(total=total, desc=f"{env_name} episodes", unit="ep", disable=not progress) as bar:
        for split in splits:
            rows = []
            for i, seed in enumerate(split.seeds):
                rows.append(episode_row(EnvSpec(env_name, seed, config), i, split, max_actions, parse, prompt))
                bar.update()
            rows_by_split[split.name] = rows
    seen: dict[int, str] = {}
    for name, rows in rows_by_split.items():
        for row in rows:
            other = seen.setdefault(row["extra_info"]["seed"], name)
            if other != name:
                raise AssertionError(f"seed {row['extra_info']['seed']} is in both {other} and {name}")
    out_dir = Path(out_dir)
    paths = {name: write_parquet(rows, out_dir / f"{name}.parquet") for name, rows in rows_by_split.items()}
    manifest = {
        "env": env_name,
        "env_config": config,
        "max_actions": max_actions,
        "parse": asdict(parse),
        "prompt": asdict(prompt),
        "splits": {s.name: {"size": s.size, "start_seed": s.start_seed, "agent_name": s.agent_name} for s in splits},
    }
    paths["manifest"] = write_json(manifest, out_dir / "manifest.json")
    return paths
