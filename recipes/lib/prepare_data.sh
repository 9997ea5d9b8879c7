#!/usr/bin/env bash
# Write a recipe's episodes: <out>/{train,val,test}.parquet + manifest.json (`tsr-verl make-data`).
# Shared by every recipe: recipes/<env>/prepare_data.sh calls
#   lib/prepare_data.sh <env> <the recipe's make-data settings> -- "$@"
#
#   recipes/<env>/prepare_data.sh [--out DIR] [more `tsr-verl make-data` arguments]
#
# DIR defaults to <repo>/data/<env> (where run.sh looks). Arguments go to make-data in the order
# shared defaults < the recipe's settings < the user's (later ones win): e.g. `--train 8 --val 4
# --test 4` or `--set p=0.9`.
# Shared defaults: 1600 training episodes = 200 steps x 8 groups (one pass); 256 val and 256 test
# episodes (the paper evaluates on 256 prompts). Budgets must match the YAML's custom.tsr (they are
# shown in the turn-1 prompt): 10 actions per episode, at most 2 per turn, separated by "||"
# (a recipe such as WebShop passes its own).
set -euo pipefail

ENV_NAME=${1:?"lib/prepare_data.sh needs the recipe (environment) name first"}
shift
RECIPE_ARGS=()
while [[ $# -gt 0 && $1 != -- ]]; do RECIPE_ARGS+=("$1"); shift; done
[[ $# -gt 0 ]] && shift  # the --

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TSR_VERL=${TSR_VERL:-$(command -v tsr-verl || echo "$REPO/.venv/bin/tsr-verl")}

OUT=$REPO/data/$ENV_NAME
EXTRA=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --out) [[ $# -ge 2 ]] || { echo "prepare_data.sh: --out needs a folder" >&2; exit 2; }; OUT=$2; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        *) EXTRA+=("$1"); shift ;;
    esac
done

"$TSR_VERL" make-data "$ENV_NAME" --out "$OUT" \
    --train 1600 --val 256 --test 256 \
    --max-actions 10 --max-actions-per-turn 2 --action-sep "||" \
    "${RECIPE_ARGS[@]}" "${EXTRA[@]}"
