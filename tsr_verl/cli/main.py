"""``tsr-verl``: the project's command line.

Subcommands
-----------
``prepare-model``  convert the embedded SmolLM2-135M-Instruct into an HF folder (cached).
``tiny-model``     write a tiny random-weight model for fast tests.
``train``          run ``verl.trainer.main_ppo`` (``--device cpu`` adds the CPU overrides).
``quickstart``     the README's main job: default model, short real veRL training on CPU.
``make-data``      write train/val/test parquet episodes of an environment for veRL.
``webshop``        WebShop data: ``download`` a product-data tier, ``convert`` it to the catalog store.
``eval``           evaluate a model or veRL checkpoint on held-out episodes (rates, pass@k, CIs).
``view``           render a JSONL dump of searched episodes as a static HTML page.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tsr_verl.cli.args import key_value


def _cmd_prepare_model(ns: argparse.Namespace) -> int:
    from tsr_verl.integration.models import prepare_default_model

    path = prepare_default_model(ns.out, dtype=ns.dtype, force=ns.force)
    print(path)
    return 0


def _cmd_tiny_model(ns: argparse.Namespace) -> int:
    from tsr_verl.integration.models import build_tiny_model

    path = build_tiny_model(
        ns.out,
        hidden_size=ns.hidden_size,
        num_heads=ns.num_heads,
        num_layers=ns.num_layers,
        seed=ns.seed,
        force=ns.force,
    )
    print(path)
    return 0


def _cmd_train(ns: argparse.Namespace) -> int:
    from tsr_verl.cli import launch

    return launch.run([a for a in ns.hydra_args if a != "--"], device=ns.device, dry_run=ns.dry_run)


def _cmd_quickstart(ns: argparse.Namespace) -> int:
    from tsr_verl.cli.quickstart import STEPS, run_quickstart

    steps = STEPS if ns.steps is None else ns.steps
    return run_quickstart(out_dir=ns.out, steps=steps, device=ns.device, model=ns.model, dry_run=ns.dry_run)


def _run_flags(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """``tsr-verl run``'s options; they may come before or after ALGO STRATEGY (as with run.sh)."""
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="gpu" if defaults else None,
        help="gpu (default): the recipe YAML as is; cpu: the CPU launcher + recipes/cpu.yaml",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=False if defaults else None,
        help="print the environment and command, run nothing",
    )
    parser.add_argument("--model", default=None, help="model folder (default: $MODEL; on cpu the embedded SmolLM2)")
    parser.add_argument("--data", default=None, help="folder with train/val.parquet (default: $DATA or ./data/RECIPE)")


def _cmd_run(ns: argparse.Namespace) -> int:
    from tsr_verl.cli.jobs import run_recipe

    late = argparse.ArgumentParser(prog="tsr-verl run", add_help=False)
    _run_flags(late, defaults=False)
    after, overrides = late.parse_known_args([a for a in ns.overrides if a != "--"])
    pick = {k: getattr(after, k) if getattr(after, k) is not None else getattr(ns, k) for k in vars(after)}
    return run_recipe(
        ns.recipe, ns.algo, ns.strategy, pick["device"], bool(pick["dry_run"]), pick["model"], pick["data"], overrides
    )


def expand_recipe(argv: list[str]) -> list[str]:
    """``make-data --recipe NAME [args]`` -> ``make-data <the recipe's env and settings> [args]``
    (the user's arguments come last, so they win)."""
    if not argv or argv[0] != "make-data":
        return argv
    rest = list(argv[1:])
    for i, arg in enumerate(rest):
        if arg == "--recipe" or arg.startswith("--recipe="):
            name = arg.split("=", 1)[1] if "=" in arg else (rest[i + 1] if i + 1 < len(rest) else "")
            del rest[i : i + (1 if "=" in arg else 2)]
            from tsr_verl.cli.jobs import Recipe, make_data_args

            try:
                return ["make-data", *make_data_args(Recipe.load(name)), *rest]
            except ValueError as exc:
                raise SystemExit(f"tsr-verl make-data: error: {exc}") from exc
    return argv


def _cmd_make_data(ns: argparse.Namespace) -> int:
    from tsr_verl.envs.datasets import write_splits
    from tsr_verl.envs.parsing import ParseConfig

    sizes = {"train": ns.train, "val": ns.val, "test": ns.test}
    parse = ParseConfig(max_actions_per_turn=ns.max_actions_per_turn, action_sep=ns.action_sep)
    try:
        paths = write_splits(
            ns.out,
            ns.env,
            dict(ns.set),
            {k: v for k, v in sizes.items() if v},
            dict(ns.seed_start),
            max_actions=ns.max_actions,
            parse=parse,
        )
    except (ValueError, TypeError) as exc:
        print(f"tsr-verl make-data: error: {exc}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def _cmd_eval(ns: argparse.Namespace) -> int:
    from tsr_verl.cli.eval import run_eval

    return run_eval(ns)


def _cmd_view(ns: argparse.Namespace) -> int:
    from tsr_verl.cli.viewer import write_html
    from tsr_verl.search.record import read_jsonl

    try:
        records = read_jsonl(ns.dump)
    except (OSError, ValueError) as exc:
        print(f"tsr-verl view: error: {exc}", file=sys.stderr)
        return 2
    if ns.limit is not None:
        records = records[: max(ns.limit, 0)]
    out = ns.out if ns.out is not None else ns.dump.with_suffix(".html")
    print(write_html(records, out, title=f"TSR episodes: {ns.dump.name}"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsr-verl", description="Trajectory-Search Rollouts for veRL")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare-model", help="convert the embedded SmolLM2-135M-Instruct to an HF folder")
    p.add_argument("--out", type=Path, default=None, help="target folder (default: $TSR_VERL_CACHE/models/...)")
    p.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"), help="saved weight dtype")
    p.add_argument("--force", action="store_true", help="rebuild even if the folder is complete")
    p.set_defaults(func=_cmd_prepare_model)

    p = sub.add_parser("tiny-model", help="write a tiny random-weight Llama for tests")
    p.add_argument("out", type=Path, help="target folder")
    p.add_argument("--hidden-size", type=int, default=128, help="hidden size (head_dim = hidden/heads >= 32)")
    p.add_argument("--num-heads", type=int, default=4, help="attention heads")
    p.add_argument("--num-layers", type=int, default=2, help="decoder layers")
    p.add_argument("--seed", type=int, default=0, help="weight init seed")
    p.add_argument("--force", action="store_true", help="rebuild even if the folder is complete")
    p.set_defaults(func=_cmd_tiny_model)

    from tsr_verl.cli.launch import add_arguments

    p = sub.add_parser("train", help="run verl.trainer.main_ppo; args after -- go to Hydra")
    add_arguments(p)
    p.set_defaults(func=_cmd_train)

    from tsr_verl.search.config import STRATEGIES

    p = sub.add_parser("run", help="train a recipe: RECIPE ALGO STRATEGY (what recipes/<env>/run.sh calls)")
    p.add_argument("recipe", help="recipe folder name: frozenlake | sokoban | webshop")
    p.add_argument("algo", choices=("grpo", "ppo"), help="grpo, or ppo (= GAE with veRL's critic)")
    p.add_argument("strategy", choices=STRATEGIES, help="TSR strategy (naive: no search)")
    _run_flags(p, defaults=True)
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides (they win)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("quickstart", help="the main job: a short real training run on the default model")
    p.add_argument("--out", type=Path, default=Path("runs/quickstart"), help="where data, logs and metrics go")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: 10)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="cpu", help="where to train")
    p.add_argument("--model", type=Path, default=None, help="HF model folder (default: the embedded SmolLM2)")
    p.add_argument("--dry-run", action="store_true", help="write the data, print the job's command, train nothing")
    p.set_defaults(func=_cmd_quickstart)

    p = sub.add_parser(
        "make-data",
        help="write train/val/test parquet episodes of an environment",
        description="--recipe NAME first fills in that recipe's env, settings and sizes "
        "(recipes/NAME/recipe.yaml); arguments after it win.",
    )
    p.add_argument("env", help="environment name (sokoban, frozenlake, a registered name or module:Class)")
    p.add_argument("--out", type=Path, required=True, help="output folder for <split>.parquet and manifest.json")
    p.add_argument(
        "--set",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env config field, value parsed as JSON if possible (repeatable), e.g. dim_room=[8,8]",
    )
    p.add_argument("--train", type=int, default=1024, help="training episodes (0 to skip the split)")
    p.add_argument("--val", type=int, default=128, help="validation episodes (0 to skip)")
    p.add_argument("--test", type=int, default=256, help="test episodes (0 to skip)")
    p.add_argument(
        "--seed-start",
        type=key_value,
        action="append",
        default=[],
        metavar="SPLIT=SEED",
        help="first seed of a split (defaults: train=0, val=1000000, test=2000000, or the env's fixed "
        "splits, e.g. WebShop's goals test=0, val=500, train=1500); ranges must not overlap",
    )
    p.add_argument("--max-actions", type=int, default=10, help="action budget per episode shown in the prompt")
    p.add_argument("--max-actions-per-turn", type=int, default=2, help="actions allowed in one answer")
    p.add_argument("--action-sep", default="||", help="separator between actions in one answer")
    p.set_defaults(func=_cmd_make_data)

    from tsr_verl.envs.webshop.download import add_parser as add_webshop_parser

    add_webshop_parser(sub)  # `webshop download|convert`, with its own handler (download.main)

    from tsr_verl.cli.eval import add_arguments as add_eval_arguments

    p = sub.add_parser("eval", help="evaluate a model or veRL checkpoint on held-out episodes")
    add_eval_arguments(p, key_value)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("view", help="render a JSONL dump of searched episodes as a static HTML page")
    p.add_argument("dump", type=Path, help="JSONL file of episode records (tsr_verl.search.record)")
    p.add_argument("--out", type=Path, default=None, help="HTML file to write (default: DUMP with .html)")
    p.add_argument("--limit", type=int, default=None, help="render only the first N episodes")
    p.set_defaults(func=_cmd_view)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(expand_recipe(list(sys.argv[1:] if argv is None else argv)))
    return int(ns.func(ns) or 0)


if __name__ == "__main__":
    sys.exit(main())
