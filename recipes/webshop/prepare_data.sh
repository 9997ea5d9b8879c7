#!/usr/bin/env bash
# Write the WebShop recipe's episodes (usage and shared sizes: ../lib/prepare_data.sh):
#   prepare_data.sh [--out DIR] [more `tsr-verl make-data` arguments, e.g. --set goals=human]
#
# Env (the paper's / TSR_RAGEN's WebShop): 1 action per turn, 9 turns = 9 actions per episode
# (the env's max_steps=9 truncates there too), upstream's synthetic goals, `text` observations.
# Episode seed = goal number in WebShop's fixed goal splits: test rows are goals 0-499, val rows
# 500-1499, train rows 1500+ (make-data starts each split there; --seed-start overrides).
#
# Data: by default a generated 200-product catalog in WebShop's raw schemas (`synthetic:200`: no
# download, for CPU runs and tests). It has 1860 goals, so its train split holds 360 episodes:
# that is the default --train here. Real data (the paper's "small" tier, 1k products):
#   tsr-verl webshop download --tier small      # once, on a networked machine
#   prepare_data.sh --set data_dir=$HOME/.cache/tsr_verl/webshop/small --set tier=small
# With a non-synthetic data_dir the default --train is the shared 1600 (200 steps x 8 groups).
# data_dir is stored in every row: the training machine must have the data at the same path.
set -euo pipefail

TRAIN=(--train 360)
case " $* " in
    *"data_dir=synthetic"*) ;;
    *"data_dir="*) TRAIN=() ;;
esac
exec bash "$(dirname "${BASH_SOURCE[0]}")/../lib/prepare_data.sh" webshop \
    --set data_dir=synthetic:200 --set max_steps=9 \
    --max-actions 9 --max-actions-per-turn 1 "${TRAIN[@]}" -- "$@"
