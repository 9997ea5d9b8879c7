#!/usr/bin/env bash
# Train one ALGO x STRATEGY combination of the WebShop recipe (usage: ../lib/run.sh):
#   run.sh ALGO STRATEGY [--device gpu|cpu] [--dry-run] [hydra overrides...]
# With --device cpu, ./cpu_overrides lengthens the shared CPU sizes (WebShop pages are long).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../lib/run.sh" webshop "$@"
