#!/usr/bin/env bash
# Write the WebShop recipe's episodes: <out>/{train,val,test}.parquet + manifest.json.
#   prepare_data.sh [--out DIR] [more `tsr-verl make-data` arguments, e.g. --set goals=human]
# Env settings, sizes and budgets: recipe.yaml (arguments given here win). DIR: <repo>/data/webshop.
# Episode seed = goal number in WebShop's fixed splits (test 0-499, val 500-1499, train 1500+).
# Real data (the "small" tier, 1k products), after `tsr-verl webshop download --tier small`:
#   prepare_data.sh --set data_dir=$HOME/.cache/tsr_verl/webshop/small --set tier=small
# With a non-synthetic data_dir the default --train is 1600 (200 steps x 8 groups) instead of the
# synthetic catalog's 360 training goals; an explicit --train wins either way.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TSR_VERL=${TSR_VERL:-$(command -v tsr-verl || echo "$HERE/../../.venv/bin/tsr-verl")}
TRAIN=()
case " $* " in
    *"data_dir=synthetic"*) ;;
    *"data_dir="*) TRAIN=(--train 1600) ;;
esac
exec "$TSR_VERL" make-data --recipe webshop --out "$HERE/../../data/webshop" "${TRAIN[@]}" "$@"
