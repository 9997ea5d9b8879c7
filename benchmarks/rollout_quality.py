"""Rollout quality and cost of every TSR strategy at one fixed policy (a real LLM on vLLM).

The policy is the default model, zero-shot (SmolLM2-135M-Instruct, prepared by
``tsr-verl prepare-model``; ``--model`` takes any HF folder). Every strategy plays the same env
seeds with the same ``SearchDriver`` the ``tsr_agent`` loop uses; all episodes of a strategy run
concurrently, as in a veRL rollout, against one in-process vLLM engine (prefix caching on, the
M candidates of a turn are M concurrent requests like ``VerlProposer`` sends). Printed per env:

* success rate and mean return of the kept trajectory, and their ratio to naive;
* invalid turns (no valid action) among the kept turns;
* tokens generated per kept token (what search spends), and the generated-token ratio to naive;
* wall time relative to naive (measured in the same run, on the same engine);
* search overhead outside generation: the same searches replayed with a proposer that returns
  the recorded answers instantly (identical forks, scoring, parsing and bookkeeping, no
  decoding) plus the chat-templating time of the live run, as a share of the live wall time.

Then GRPO groups (``rollout_groups.py``): ``--groups`` seeds x ``--group-size`` members, naive vs
independent vs coupled searches (``tsr.group_mode``) of each ``--group-strategies`` strategy at
equal n, B, M: group return std, mean and best return per group, distinct members, tokens
generated per trained trajectory, wall time.

    python benchmarks/rollout_quality.py [--episodes 16] [--env frozenlake sokoban] [--out DIR]
                                         [--groups 4] [--group-size 4] [--group-strategies beam]

Writes ``rollout_quality.json`` and ``search_cost_vs_gain.png`` to ``--out``. On a GPU pass
``--device gpu``; nothing else changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tsr_verl.envs import make
from tsr_verl.envs.parsing import ParseConfig
from tsr_verl.io import write_json
from tsr_verl.search import Candidate, Context, EpisodeConfig, SearchConfig, SearchDriver

try:  # run as a script (benchmarks/ on sys.path) or imported by the tests
    from rollout_groups import print_group_table, run_group_arm
except ImportError:  # pragma: no cover
    from benchmarks.rollout_groups import print_group_table, run_group_arm

ENVS = {
    # env name -> (constructor config, scorer for per-turn strategies, max turns)
    "frozenlake": ({"size": 4, "p": 0.8, "is_slippery": False}, "frozenlake_risk", 5),
    "sokoban": ({"dim_room": [6, 6], "num_boxes": 1}, "sokoban", 6),
}
STRATEGIES = {
    "naive": {},
    "best_of_n": {"num_candidates": 4},
    "beam": {"num_candidates": 4, "beam_width": 2},
    "lookahead": {"num_candidates": 4, "beam_width": 2, "lookahead_depth": 2},
    "trajectory_best_of_n": {"num_candidates": 4},
}


def call_key(context: Context, k: int, greedy: bool) -> str:
    """What a proposer call asks for: the conversation so far, k and the decoding mode."""
    return json.dumps([context.chat(), k, greedy])


@dataclass
class LivePolicy:
    """``Proposer`` over an in-process vLLM ``AsyncLLM``; records every answer it gives."""

    engine: object
    tokenizer: object
    params: dict
    key: str
    calls: int = 0
    template_s: float = 0.0
    record: dict[str, list[list[Candidate]]] = field(default_factory=dict)

    async def __call__(self, context: Context, k: int, *, greedy: bool = False) -> list[Candidate]:
        from vllm import SamplingParams

        start = time.perf_counter()
        ids = self.tokenizer.apply_chat_template(context.chat(), add_generation_prompt=True, tokenize=True)
        ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)  # transformers 5 returns a BatchEncoding
        self.template_s += time.perf_counter() - start
        params = SamplingParams(**{**self.params, **({"temperature": 0.0} if greedy else {})})
        outs = await asyncio.gather(*(self._one(ids, params) for _ in range(k)))
        self.record.setdefault(call_key(context, k, greedy), []).append(outs)
        return outs

    async def _one(self, ids: list[int], params: object) -> Candidate:
        self.calls += 1
        final = None
        async for output in self.engine.generate({"prompt_token_ids": ids}, params, f"{self.key}-{self.calls}"):
            final = output  # the last streamed output holds the whole answer
        out = final.outputs[0]
        return Candidate(out.text, tuple(out.token_ids))


@dataclass
class ReplayPolicy:
    """Answers each call with what the live run answered to the same call: the search minus
    decoding. Concurrent calls finished in a different order live, so a few calls of the same
    size may get another recorded answer of that size (counted in ``substituted``)."""

    record: dict[str, list[list[Candidate]]]
    substituted: int = 0

    def __post_init__(self) -> None:
        self.queues = {key: list(v) for key, v in self.record.items()}
        self.spare = [outs for v in self.record.values() for outs in v]

    async def __call__(self, context: Context, k: int, *, greedy: bool = False) -> list[Candidate]:
        queue = self.queues.get(call_key(context, k, greedy))
        if queue:
            return queue.pop(0)
        self.substituted += 1
        return next(outs for outs in self.spare if len(outs) == k)


def episode_config(max_turns: int) -> EpisodeConfig:
    # One action per turn, lenient parsing (a 135M model rarely follows the format zero-shot).
    return EpisodeConfig(
        max_turns=max_turns, max_actions=max_turns, parse=ParseConfig(max_actions_per_turn=1, lenient=True)
    )


def search_config(strategy: str, scorer: str) -> SearchConfig:
    per_turn = strategy not in ("naive", "trajectory_best_of_n")
    return SearchConfig(strategy=strategy, scorer=scorer if per_turn else None, **STRATEGIES[strategy])


async def run_strategy(engine, tokenizer, env_name: str, strategy: str, seeds: list[int], params: dict) -> dict:
    env_cfg, scorer, max_turns = ENVS[env_name]
    config, episode = search_config(strategy, scorer), episode_config(max_turns)
    policies = [LivePolicy(engine, tokenizer, params, f"{env_name}-{strategy}-{s}") for s in seeds]

    async def one(seed: int, policy: LivePolicy):
        env = make(env_name, **env_cfg)
        env.reset(seed)
        return await SearchDriver(policy, config, episode).run(env, seed=seed)

    start = time.perf_counter()
    results = await asyncio.gather(*(one(s, p) for s, p in zip(seeds, policies, strict=True)))
    wall = time.perf_counter() - start
    # Replay: the same searches with instant answers (sequential; the search work is CPU-bound).
    replays = [ReplayPolicy(p.record) for p in policies]
    start = time.perf_counter()
    for seed, replay_policy in zip(seeds, replays, strict=True):
        env = make(env_name, **env_cfg)
        env.reset(seed)
        await SearchDriver(replay_policy, config, episode).run(env, seed=seed)
    replay = time.perf_counter() - start
    best = [r.best for r in results]
    turns = [t for b in best for t in b.turns]
    gen = sum(r.cost.tokens_generated for r in results)
    kept = sum(r.cost.tokens_kept for r in results)
    return {
        "success": float(np.mean([b.success for b in best])),
        "return": float(np.mean([b.total_return for b in best])),
        "invalid_turns": float(np.mean([not t.executed for t in turns])) if turns else 0.0,
        "tokens_generated": gen,
        "tokens_kept": kept,
        "gen_per_kept": gen / max(1, kept),
        "proposals": sum(r.cost.proposals for r in results),
        "wall_s": wall,
        "replay_s": replay,
        "template_s": sum(p.template_s for p in policies),
        "overhead": (replay + sum(p.template_s for p in policies)) / wall,
        "replay_substituted_calls": sum(r.substituted for r in replays),
        "proposer_calls": sum(len(v) for p in policies for v in p.record.values()),
    }


def print_table(env_name: str, rows: dict[str, dict], n: int) -> None:
    base = rows["naive"]
    print(f"\n{env_name}: {n} episodes (same seeds for every strategy)")
    print(
        f"{'strategy':<22}{'success':>8}{'vs naive':>9}{'return':>8}{'invalid':>8}{'gen/kept':>9}"
        f"{'tokens':>9}{'wall':>8}{'gen tok':>9}{'overhead':>9}"
    )
    print(f"{'':<22}{'':>8}{'':>9}{'':>8}{'turns':>8}{'':>9}{'x naive':>9}{'x naive':>8}{'/ wall':>9}{'of wall':>9}")
    for name, r in rows.items():
        ratio = r["success"] / base["success"] if base["success"] else float("inf") if r["success"] else float("nan")
        tok = r["tokens_generated"] / max(1, base["tokens_generated"])
        wall = r["wall_s"] / base["wall_s"]
        print(
            f"{name:<22}{r['success']:>8.1%}{ratio:>8.1f}x{r['return']:>8.2f}{r['invalid_turns']:>8.0%}"
            f"{r['gen_per_kept']:>9.2f}{tok:>8.2f}x{wall:>7.2f}x{wall / tok:>9.2f}{r['overhead']:>9.2%}"
        )


def plot(all_rows: dict[str, dict[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(all_rows), figsize=(5.5 * len(all_rows), 4), squeeze=False)
    for ax, (env_name, rows) in zip(axes[0], all_rows.items(), strict=True):
        base = rows["naive"]
        for name, r in rows.items():
            x = r["tokens_generated"] / max(1, base["tokens_generated"])
            ax.scatter(x, 100 * r["success"], s=60)
            ax.annotate(name, (x, 100 * r["success"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set(title=f"{env_name}: search cost vs gain", xlabel="generated tokens (x naive)", ylabel="success (%)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="HF model folder (default: the prepared SmolLM2-135M-Instruct)")
    parser.add_argument("--env", nargs="*", choices=sorted(ENVS), default=sorted(ENVS), help="environments")
    parser.add_argument("--strategies", nargs="*", choices=list(STRATEGIES), default=list(STRATEGIES))
    parser.add_argument("--episodes", type=int, default=16, help="episodes (env seeds) per strategy")
    parser.add_argument("--first-seed", type=int, default=100_000, help="seeds are first-seed .. first-seed+episodes-1")
    parser.add_argument("--max-tokens", type=int, default=48, help="max new tokens per answer")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (veRL's rollout default)")
    parser.add_argument("--groups", type=int, default=4, help="GRPO groups (seeds) per group arm")
    parser.add_argument("--group-size", type=int, default=4, help="members per group (GRPO's rollout.n)")
    parser.add_argument(
        "--group-strategies",
        nargs="*",
        choices=[s for s in STRATEGIES if s != "naive"],
        default=["beam"],
        help="strategies compared independent vs coupled in the group arms (none: skip the group arms)",
    )
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/rollout_quality"), help="where JSON and PNG go")
    parser.add_argument(
        "--dtype",
        choices=["auto", "bfloat16", "float32"],
        default="auto",
        help="vLLM dtype; auto: bfloat16 on a GPU, on a CPU what training uses (tsr_verl/integration/cpu_tuning.py)",
    )
    args = parser.parse_args()
    if args.groups > args.episodes:
        parser.error(f"--groups ({args.groups}) must be <= --episodes ({args.episodes}): groups reuse those seeds")
    dtype = args.dtype
    if args.device == "cpu":
        os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        if dtype == "auto":
            from tsr_verl.integration import cpu_tuning

            dtype = "float32" if cpu_tuning.compute_dtype() == "fp32" else "bfloat16"
    elif dtype == "auto":
        dtype = "bfloat16"
    from transformers import AutoConfig, AutoTokenizer
    from vllm import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    from tsr_verl.integration.models import prepare_default_model

    model = args.model or str(prepare_default_model())
    tokenizer = AutoTokenizer.from_pretrained(model)
    max_len = min(4096, getattr(AutoConfig.from_pretrained(model), "max_position_embeddings", 4096))
    engine = AsyncLLM.from_engine_args(
        AsyncEngineArgs(model=model, dtype=dtype, enforce_eager=True, enable_prefix_caching=True, max_model_len=max_len)
    )
    # "</answer>" ends an answer (the parser needs nothing after it): a stop string, as RAGEN uses.
    params = {
        "temperature": args.temperature,
        "top_p": 1.0,
        "max_tokens": args.max_tokens,
        "stop": ["</answer>"],
        "include_stop_str_in_output": True,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    all_rows: dict[str, dict[str, dict]] = {}
    group_rows: dict[str, dict[str, dict]] = {}
    meta = {
        "model": model,
        "episodes": args.episodes,
        "seeds": [seeds[0], seeds[-1]],
        "env": ENVS,
        "strategies": STRATEGIES,
        "sampling": params,
        "groups": {"groups": args.groups, "group_size": args.group_size, "strategies": args.group_strategies},
        "device": args.device,
        "dtype": dtype,
        "date": time.strftime("%Y-%m-%d"),
    }

    async def go() -> None:
        await run_strategy(engine, tokenizer, args.env[0], "naive", seeds[:2], params)  # warm-up, not reported
        for env_name in args.env:
            all_rows[env_name] = {}
            for strategy in args.strategies:
                all_rows[env_name][strategy] = await run_strategy(engine, tokenizer, env_name, strategy, seeds, params)
                r = all_rows[env_name][strategy]
                print(f"[{env_name}/{strategy}] success {r['success']:.1%} wall {r['wall_s']:.0f}s", flush=True)
                write_json(  # after each strategy
                    {"meta": meta, "results": all_rows, "groups": group_rows}, args.out / "rollout_quality.json"
                )
            if args.group_strategies:
                await run_groups(env_name)

    async def run_groups(env_name: str) -> None:
        env_cfg, scorer, max_turns = ENVS[env_name]
        arms = [("naive", False)] + [(s, c) for s in args.group_strategies for c in (False, True)]
        group_rows[env_name] = {}
        for strategy, coupled in arms:
            name = strategy + (" coupled" if coupled else "")
            group_rows[env_name][name] = r = await run_group_arm(
                lambda key: LivePolicy(engine, tokenizer, params, f"grp-{key}"),
                env_name,
                env_cfg,
                search_config(strategy, scorer),
                episode_config(max_turns),
                seeds[: args.groups],
                args.group_size,
                coupled,
            )
            print(f"[{env_name}/group {name}] zero-std {r['zero_std']:.0%} wall {r['wall_s']:.0f}s", flush=True)
            write_json({"meta": meta, "results": all_rows, "groups": group_rows}, args.out / "rollout_quality.json")

    # A killed run (SIGTERM) still shuts the engine down: its worker processes would outlive it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        asyncio.run(go())
    finally:
        engine.shutdown()
    for env_name, rows in all_rows.items():
        print_table(env_name, rows, args.episodes)
    for env_name, rows in group_rows.items():
        print_group_table(env_name, rows)
    if "naive" in args.strategies:
        plot(all_rows, args.out / "search_cost_vs_gain.png")
    print(f"\nwrote {args.out}/rollout_quality.json and search_cost_vs_gain.png")


if __name__ == "__main__":
    main()
