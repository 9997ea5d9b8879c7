#!/usr/bin/env bash
# Train one ALGO x STRATEGY combination of the webshop recipe with veRL:
#   run.sh ALGO STRATEGY [--device gpu|cpu] [--dry-run] [--model DIR] [--data DIR] [hydra overrides...]
#   ALGO: grpo | ppo (= GAE with veRL's critic); STRATEGY: naive | best_of_n | beam | lookahead |
#   trajectory_best_of_n. --device gpu (default) runs config/tsr_webshop.yaml as is; --device cpu adds
#   the CPU launcher and the small size of ../cpu.yaml (plus recipe.yaml's cpu_overrides).
#   MODEL=DIR / DATA=DIR work too (default data: <repo>/data/webshop). Settings: recipe.yaml.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DATA=${DATA:-$HERE/../../data/webshop}
TSR_VERL=${TSR_VERL:-$(command -v tsr-verl || echo "$HERE/../../.venv/bin/tsr-verl")}
exec "$TSR_VERL" run webshop "$@"
