#!/usr/bin/env bash
# Write the FrozenLake recipe's episodes: <out>/{train,val,test}.parquet + manifest.json.
#   prepare_data.sh [--out DIR] [more `tsr-verl make-data` arguments, e.g. --set p=0.9 --train 8]
# Env settings, sizes and budgets: recipe.yaml (arguments given here win). DIR: <repo>/data/frozenlake.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TSR_VERL=${TSR_VERL:-$(command -v tsr-verl || echo "$HERE/../../.venv/bin/tsr-verl")}
exec "$TSR_VERL" make-data --recipe frozenlake --out "$HERE/../../data/frozenlake" "$@"
