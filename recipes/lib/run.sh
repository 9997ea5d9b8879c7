#!/usr/bin/env bash
# Train one ALGO x STRATEGY combination of a recipe with veRL (through `tsr-verl train`).
# Shared by every recipe: recipes/<env>/run.sh calls `lib/run.sh <env> "$@"`.
#
#   recipes/<env>/run.sh ALGO STRATEGY [--device gpu|cpu] [--dry-run] [hydra overrides...]
#
#   ALGO       grpo | ppo      (ppo = algorithm.adv_estimator=gae; veRL then adds the critic)
#   STRATEGY   naive | best_of_n | beam | lookahead | trajectory_best_of_n
#   --device   gpu (default): the recipe YAML as is; cpu: the CPU launcher plus a small size
#              (adjusted by the recipe's optional cpu_overrides file, see below)
#   --dry-run  print the environment and the command instead of running it
#
# Environment: MODEL=/local/model/folder (GPU default: the YAML's placeholder; CPU default:
# `tsr-verl prepare-model`), DATA=/folder/with/{train,val}.parquet (default <repo>/data/<env>).
# Overrides given here come last, so they win over everything this script sets.
set -euo pipefail

ENV_NAME=${1:?"lib/run.sh needs the recipe (environment) name first"}
shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../$ENV_NAME" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TSR_VERL=${TSR_VERL:-$(command -v tsr-verl || echo "$REPO/.venv/bin/tsr-verl")}
STRATEGIES="naive best_of_n beam lookahead trajectory_best_of_n"

usage() {
    echo "usage: recipes/$ENV_NAME/run.sh ALGO STRATEGY [--device gpu|cpu] [--dry-run] [hydra overrides...]"
    echo "  ALGO: grpo | ppo    STRATEGY: ${STRATEGIES// / | }"
}
die() { echo "run.sh: error: $*" >&2; usage >&2; exit 2; }

[[ $# -ge 2 ]] || die "ALGO and STRATEGY are required"
ALGO=$1 STRATEGY=$2
shift 2
case $ALGO in
    grpo) ESTIMATOR=grpo ;;
    ppo) ESTIMATOR=gae ;;
    *) die "unknown ALGO '$ALGO' (expected grpo or ppo)" ;;
esac
[[ " $STRATEGIES " == *" $STRATEGY "* ]] || die "unknown STRATEGY '$STRATEGY' (expected one of: $STRATEGIES)"

DEVICE=gpu
DRY_RUN=()
USER_ARGS=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --device) [[ $# -ge 2 ]] || die "--device needs a value"; DEVICE=$2; shift 2 ;;
        --device=*) DEVICE=${1#*=}; shift ;;
        --dry-run) DRY_RUN=(--dry-run); shift ;;
        -h | --help) usage; exit 0 ;;
        *) USER_ARGS+=("$1"); shift ;;
    esac
done
[[ $DEVICE == gpu || $DEVICE == cpu ]] || die "unknown --device '$DEVICE' (expected gpu or cpu)"

# Never download at run time: a hub id in actor_rollout_ref.model.path must already be cached.
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
DATA=${DATA:-$REPO/data/$ENV_NAME}
if [[ ${#DRY_RUN[@]} -eq 0 && ! -f $DATA/train.parquet && " ${USER_ARGS[*]} " != *" data.train_files="* ]]; then
    die "no $DATA/train.parquet: run $HERE/prepare_data.sh first (or set DATA=...)"
fi

# The two choices are one override each, so any two combinations are one flag apart.
ARGS=(
    "--config-path=$HERE/config" "--config-name=tsr_$ENV_NAME"
    "algorithm.adv_estimator=$ESTIMATOR"
    "actor_rollout_ref.rollout.custom.tsr.strategy=$STRATEGY"
    "data.train_files=$DATA/train.parquet" "data.val_files=$DATA/val.parquet"
)
if [[ $DEVICE == cpu ]]; then
    MODEL=${MODEL:-$("$TSR_VERL" prepare-model | tail -n 1)}
    # A run a 2-core CPU finishes: 2 prompts x 4 episodes, 48-token turns (5 of them, with the
    # observations, fit in 640 response tokens), 2 steps, 4 validation episodes.
    ARGS+=(
        data.train_batch_size=2
        actor_rollout_ref.rollout.n=4
        data.max_prompt_length=768
        data.max_response_length=640
        actor_rollout_ref.rollout.max_model_len=1408
        actor_rollout_ref.rollout.custom.tsr.max_tokens_per_turn=48
        actor_rollout_ref.actor.ppo_mini_batch_size=2
        actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4
        critic.ppo_micro_batch_size_per_gpu=4
        actor_rollout_ref.model.enable_gradient_checkpointing=false
        trainer.total_training_steps=2
        data.val_max_samples=4
    )
    # A recipe may adjust these CPU sizes (e.g. WebShop's long observations need longer responses):
    # recipes/<env>/cpu_overrides holds one Hydra override per line; blank lines and lines
    # starting with # are skipped. They come after the sizes above and before the user's overrides.
    if [[ -f $HERE/cpu_overrides ]]; then
        while read -r line || [[ -n $line ]]; do
            [[ -z $line || $line == \#* ]] || ARGS+=("$line")
        done <"$HERE/cpu_overrides"
    fi
fi
[[ -n ${MODEL:-} ]] && ARGS+=("actor_rollout_ref.model.path=$MODEL")

exec "$TSR_VERL" train --device "$DEVICE" "${DRY_RUN[@]}" -- "${ARGS[@]}" "${USER_ARGS[@]}"
