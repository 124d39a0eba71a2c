#!/usr/bin/env bash
# The main job: the embedded default recipe, every stage end to end on CPU, from nothing to a summary.
#   bash local/run_main.sh [extra run.sh options, e.g. --stage 7]
# Builds/activates the cached environment first (idempotent), then runs egs2/synth/svae1/run.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "${root}/local/env.sh"
cd "${root}/egs2/synth/svae1"
exec ./run.sh "$@"
