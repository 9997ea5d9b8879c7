#!/usr/bin/env bash
# Train one ALGO x STRATEGY combination of the FrozenLake recipe (usage: ../lib/run.sh):
#   run.sh ALGO STRATEGY [--device gpu|cpu] [--dry-run] [hydra overrides...]
exec bash "$(dirname "${BASH_SOURCE[0]}")/../lib/run.sh" frozenlake "$@"
