#!/usr/bin/env bash
# The test suite: builds/activates the cached environment (idempotent), then runs pytest.
#   bash local/run_tests.sh [pytest args, e.g. -k distill]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "${root}/local/env.sh"
# the demo's browser tests drive the system chromium
_ep_apt chromium:chromium chromedriver:chromium-driver
cd "${root}"
exec python -m pytest -q -p no:cacheprovider tests "$@"
