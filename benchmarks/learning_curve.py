"""Learning curves: naive GRPO vs TSR GRPO on FrozenLake, paired seeds, same optimizer steps.

For each training seed and each arm (``--arms``: ``naive``, a strategy with independent searches
such as ``beam``, and ``beam:coupled`` where one search fills each GRPO group), one real veRL
``main_ppo`` run of the FrozenLake recipe (``recipes/frozenlake``) through the launcher. All arms
see the same data, the same seed (initial model, data order, sampling), the same number of
optimizer steps and the same instance filter; only ``custom.tsr.strategy`` / ``group_mode``
differ. Every ``--eval-every`` steps (and before training) veRL validates the policy *alone*
(``tsr_eval``: no search) on the same ``--val`` held-out maps, ``--val-samples`` samples each at
``--val-temperature``, so the curves compare policies, not search, and several samples per map
shrink the sampling noise that one sample of a near-uniform policy carries. ``--top-k`` samples
training rollouts and validation from the k most likely tokens (default off: the full
distribution); the pilots that tried it are in docs/results.md. veRL arguments: ``learning_jobs.py``.

Pre-declared (``learning_stats.py``): primary metric = held-out success at the last step,
secondary = area under the success curve; each TSR arm's paired difference to naive with a 95%
bootstrap CI over seeds; compute per arm (tokens generated, wall time). Writes
``learning_curve.json``, ``learning_curve.png`` (success vs step, mean and min-max band over
seeds) and ``tsr_metrics.png`` (per-step TSR metrics of the first TSR run).

CPU, ``--setting tiny`` (default): a tiny random Llama (4 layers, hidden 256, SmolLM2 tokenizer)
after a 600-step warm-start on shortest-path answers (``--warmstart-expert 1``; it starts with
~31% held-out success and features RL can sharpen); non-slippery 4x4 FrozenLake, 4 turns of one
move, coordinates in the observation (``grid_coord``); lr 2e-4, Adam eps 1e-5. Why these values
(and why not others): the pilots in docs/results.md.

    python benchmarks/learning_curve.py [--seeds 0 1 2 3 4] [--steps 8] [--eval-every 4]
                                        [--arms naive beam beam:coupled] [--val 128 --val-samples 2]

``--setting main`` runs the quickstart's job instead (``tsr_verl.cli.quickstart.job``:
SmolLM2-135M-Instruct, slippery FrozenLake, 3 turns, its sizes, lr 1e-4 and best-of-2), where naive
GRPO was seen to raise success; per arm and seed only the strategy, group mode, seeds, schedule and
evaluation change (the tiny-model flags do not apply). ≈ 8 min per run of 8 steps on 2 cores:

    python benchmarks/learning_curve.py --setting main --arms naive best_of_n best_of_n:coupled \
        --steps 8 --eval-every 8 --val-samples 1 --val-temperature 1.0

GPU: ``--device gpu --model /path/to/Qwen2.5-0.5B-Instruct --slippery --observation grid
--max-turns 5 --steps 200 --eval-every 10`` runs the paper's setting with the recipe's GPU sizes
(the CPU sizes and the warm-start are then off).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tsr_verl.io import write_json

try:  # run as a script (benchmarks/ on sys.path) or imported by the tests
    from learning_jobs import job_args
    from learning_plots import plot
    from learning_stats import arm_compute, compare, parse_arm, print_comparison
    from warmstart_probe import probe as board_probe
except ImportError:  # pragma: no cover
    from benchmarks.learning_jobs import job_args
    from benchmarks.learning_plots import plot
    from benchmarks.learning_stats import arm_compute, compare, parse_arm, print_comparison
    from benchmarks.warmstart_probe import probe as board_probe

REPO = Path(__file__).resolve().parent.parent
WARMSTART_ACTIONS = 5


def success_key(samples: int) -> str:
    """veRL's validation metric of the mean success over ``samples`` samples per map."""
    return f"val-aux/tsr_verl/frozenlake/success/mean@{samples}"


def prepare(ns: argparse.Namespace) -> tuple[Path, Path]:
    """The (warm-started) model and the shared dataset."""
    from tsr_verl.envs.datasets import write_splits
    from tsr_verl.envs.parsing import ParseConfig
    from tsr_verl.integration.models import build_tiny_model, default_model_dir, prepare_default_model
    from tsr_verl.integration.warmstart import warm_start

    data = ns.out / "data"
    if ns.setting == "main":  # the quickstart's data and model
        from tsr_verl.cli.quickstart import write_data

        write_data(data, ns.steps, ns.val)
        return (Path(ns.model).resolve() if ns.model else prepare_default_model()), data
    env_config = {"size": 4, "p": 0.8, "is_slippery": ns.slippery, "observation_format": ns.observation}
    write_splits(
        data,
        "frozenlake",
        env_config,
        {"train": ns.steps * ns.groups, "val": ns.val},
        max_actions=ns.max_turns,
        parse=ParseConfig(max_actions_per_turn=1),
        progress=False,
    )
    if ns.model:
        return Path(ns.model).resolve(), data
    # Named by its settings, so a rerun with other warm-start flags never reuses a stale model.
    warm = ns.out / f"model_warm_{ns.observation}_{ns.warmstart_steps}steps_expert{ns.warmstart_expert:g}"
    if not (warm / "config.json").is_file():
        prepare_default_model()  # its tokenizer is the tiny model's
        tiny = build_tiny_model(
            ns.out / "model_tiny",
            hidden_size=256,
            num_heads=4,
            num_layers=4,
            intermediate_size=512,
            tokenizer_dir=default_model_dir(),
        )
        losses = warm_start(
            tiny,
            warm,
            "frozenlake",
            env_config,
            steps=ns.warmstart_steps,
            # The recipe's 5-action budget in the warm-start prompts, whatever --max-turns: the
            # same conversations for every horizon (and the data the pilots' model was trained on;
            # with a 4-action budget 600 steps did not reach the board-reading model, 0.325 vs 0.48).
            max_actions=WARMSTART_ACTIONS,
            expert=ns.warmstart_expert,
        )
        print(
            f"[learning_curve] warm-start ({ns.warmstart_steps} steps, {ns.warmstart_expert:.0%} shortest-path "
            f"answers): answer-token loss {losses['loss_first']:.2f} -> {losses['loss_last']:.2f}",
            flush=True,
        )
    return warm, data


def run_one(ns: argparse.Namespace, data: Path, model: Path, arm: str, seed: int, step0: float | None) -> dict:
    """One training run; ``step0`` is the seed's shared step-0 evaluation (None for the first arm,
    which measures it)."""
    from tsr_verl.cli.jobs import Job, Recipe, read_metrics

    run_dir = ns.out / f"{arm.replace(':', '_')}_seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics, wall = run_dir / "metrics.jsonl", run_dir / "wall.json"
    key = success_key(ns.val_samples)
    if wall.is_file() and any(r["step"] == ns.steps and key in r["data"] for r in read_metrics(metrics)):
        print(f"[learning_curve] {arm} seed {seed}: reusing {metrics}", flush=True)
    else:
        metrics.unlink(missing_ok=True)
        # The FrozenLake recipe through the one job runner; these sizes replace cpu.yaml's, and its
        # validation cap is left out (each checkpoint is evaluated on all --val episodes).
        job = Job(Recipe.load("frozenlake"), ns.device, job_args(ns, data, model, arm, seed, run_dir), for_eval=True)
        start = time.monotonic()
        rc = job.run(run_dir, "train.log")
        minutes = (time.monotonic() - start) / 60
        print(f"[learning_curve] {arm} seed {seed}: exit {rc} after {minutes:.1f} min", flush=True)
        if rc != 0:
            raise SystemExit(f"run failed: see {run_dir / 'train.log'}")
        write_json({"minutes": minutes}, wall)
    rows = read_metrics(metrics)
    curve = {r["step"]: r["data"][key] for r in rows if key in r["data"]}
    if step0 is not None:
        curve[0] = step0
    minutes = json.loads(wall.read_text())["minutes"]
    return {"curve": curve, "train": [r for r in rows if "tsr/success" in r["data"]], "minutes": minutes}


def summarize(results: dict[str, dict[int, dict]]) -> dict:
    out = {}
    for arm, by_seed in results.items():
        steps = sorted(set.intersection(*(set(r["curve"]) for r in by_seed.values())))
        values = np.array([[by_seed[s]["curve"][t] for t in steps] for s in sorted(by_seed)])
        out[arm] = {
            "steps": steps,
            "per_seed": {s: values[i].tolist() for i, s in enumerate(sorted(by_seed))},
            "mean": values.mean(0).tolist(),
            "std": values.std(0).tolist(),
            "min": values.min(0).tolist(),
            "max": values.max(0).tolist(),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="training seeds (data order, sampling)"
    )
    parser.add_argument(
        "--setting",
        choices=["tiny", "main"],
        default="tiny",
        help="tiny: warm-started tiny Llama (the flags below); main: the quickstart's job (SmolLM2, slippery "
        "FrozenLake, its sizes, lr and best-of-2), where only the arms, seeds, schedule and evaluation flags apply",
    )
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per run")
    parser.add_argument("--eval-every", type=int, default=4, help="validate every k steps (and before training)")
    parser.add_argument(
        "--arms",
        nargs="+",
        default=["naive", "beam", "beam:coupled"],
        help="naive, a strategy (independent searches) or STRATEGY:coupled; paper settings M=4, B=2, D=2",
    )
    parser.add_argument("--groups", type=int, default=4, help="prompt groups (maps) per step")
    parser.add_argument("--group-size", type=int, default=4, help="episodes per group (GRPO n)")
    parser.add_argument("--val", type=int, default=128, help="held-out validation maps")
    parser.add_argument("--val-samples", type=int, default=2, help="validation samples per map (veRL val_kwargs.n)")
    parser.add_argument("--val-temperature", type=float, default=0.5, help="validation temperature (0: greedy)")
    parser.add_argument("--top-k", type=int, default=-1, help="rollout and validation top-k sampling (-1: off)")
    parser.add_argument("--keep-ratio", type=float, default=0.5, help="StarPO-S top_k_ratio (both arms)")
    parser.add_argument("--lr", type=float, default=2e-4, help="actor learning rate (CPU sizes)")
    parser.add_argument("--adam-eps", type=float, default=1e-5, help="actor Adam epsilon (CPU sizes)")
    parser.add_argument("--warmstart-steps", type=int, default=600, help="warm-start steps (CPU default model)")
    parser.add_argument(
        "--warmstart-expert",
        type=float,
        default=1.0,
        help="fraction of warm-start answers naming a shortest-path move (0: format only)",
    )
    parser.add_argument(
        "--observation", choices=["grid", "grid_coord"], default="grid_coord", help="FrozenLake observation format"
    )
    parser.add_argument("--max-turns", type=int, default=4, help="turns (one move each) per episode")
    parser.add_argument("--slippery", action="store_true", help="slippery FrozenLake (the paper's setting)")
    parser.add_argument("--model", default=None, help="HF model folder (default on CPU: warm-started tiny model)")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "learning_curve")
    ns = parser.parse_args()
    try:
        for arm in ns.arms:
            parse_arm(arm)
    except ValueError as err:
        parser.error(str(err))
    if not 0.0 <= ns.warmstart_expert <= 1.0:
        parser.error(f"--warmstart-expert must be in [0, 1], got {ns.warmstart_expert}")
    for flag in ("max_turns", "steps", "eval_every", "warmstart_steps"):
        if getattr(ns, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(ns, flag)}")
    if ns.adam_eps <= 0:
        parser.error(f"--adam-eps must be > 0, got {ns.adam_eps}")
    if ns.top_k == 0 or ns.top_k < -1:
        parser.error(f"--top-k must be -1 (off) or >= 1, got {ns.top_k}")
    if "naive" not in ns.arms or len(ns.arms) < 2:
        parser.error("--arms needs 'naive' (the baseline) and at least one TSR arm")
    if ns.setting == "main":  # recorded in the JSON as run (the compute per arm counts these episodes)
        from tsr_verl.cli import quickstart

        ns.groups, ns.group_size, ns.lr = quickstart.GROUPS, quickstart.GROUP_SIZE, quickstart.LR
        ns.keep_ratio, ns.max_turns = quickstart.KEEP_RATIO, quickstart.MAX_TURNS
        ns.slippery, ns.observation = True, "grid"  # the recipe's env
    ns.out = ns.out.resolve()
    ns.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    model, data = prepare(ns)
    probe = None
    if ns.setting == "tiny" and ns.model is None:  # what the warm-start taught: RL needs a policy that reads the board
        mass, uniform = board_probe(model, ns.observation, maps=150)
        probe = {"shortest_path_mass": mass, "uniform_mass": uniform}
        print(
            f"[learning_curve] warm-started policy: {probe['shortest_path_mass']:.3f} of its first-turn action mass "
            f"on shortest-path moves (uniform: {probe['uniform_mass']:.3f}; benchmarks/warmstart_probe.py)",
            flush=True,
        )
    results: dict[str, dict[int, dict]] = {arm: {} for arm in ns.arms}
    for seed in ns.seeds:
        for arm in ns.arms:
            step0 = None if arm == ns.arms[0] else results[ns.arms[0]][seed]["curve"][0]
            results[arm][seed] = run_one(ns, data, model, arm, seed, step0)
    summary = summarize(results)
    paired = compare({arm: {s: r["curve"] for s, r in by_seed.items()} for arm, by_seed in results.items()})
    episodes = ns.groups * ns.group_size
    compute = {
        arm: {
            **arm_compute([row for r in by_seed.values() for row in r["train"]], episodes),
            "minutes": sum(r["minutes"] for r in by_seed.values()),
        }
        for arm, by_seed in results.items()
    }
    minutes = (time.monotonic() - started) / 60
    print(
        f"\nheld-out success of the policy alone ({ns.val} maps x {ns.val_samples} samples at T={ns.val_temperature}),"
        f" mean ± std over seeds {ns.seeds}"
    )
    print(f"{'step':>6}" + "".join(f"{arm:>22}" for arm in summary))
    for i, step in enumerate(summary["naive"]["steps"]):
        print(f"{step:>6}" + "".join(f"{s['mean'][i]:>15.1%} ± {s['std'][i]:>4.1%}" for s in summary.values()))
    print_comparison(paired, compute)
    meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(ns).items()}
    write_json(
        {
            "meta": {**meta, "model": str(model), "warmstart_probe": probe, "minutes": minutes},
            "summary": summary,
            "paired": paired,
            "compute": compute,
        },
        ns.out / "learning_curve.json",
    )
    plot(summary, results, next(a for a in ns.arms if a != "naive"), ns.out)
    print(f"\n{minutes:.1f} min; wrote {ns.out}/learning_curve.json, learning_curve.png, tsr_metrics.png")


if __name__ == "__main__":
    main()
