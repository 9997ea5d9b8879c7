#!/usr/bin/env bash
# Write the FrozenLake recipe's episodes (usage and sizes: ../lib/prepare_data.sh):
#   prepare_data.sh [--out DIR] [more `tsr-verl make-data` arguments, e.g. --set p=0.9]
#
# Env (TSR's setup): 4x4 maps, frozen-tile probability p=0.8 (RAGEN's value; TSR_RAGEN's env
# file uses p=0.9), slippery with success_rate=0.8 (TSR_RAGEN: the intended move happens with
# probability 0.8, each perpendicular slip 0.1; gymnasium's own rule would be 1/3).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../lib/prepare_data.sh" frozenlake \
    --set size=4 --set p=0.8 --set is_slippery=true --set success_rate=0.8 -- "$@"
