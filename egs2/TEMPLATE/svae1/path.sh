# Activates the project's environment (built once, outside the clone, by local/env.sh).
_recipe_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
. "${_recipe_root}/../../../local/env.sh" || return 1
export LC_ALL=C.UTF-8
export PYTHONIOENCODING=UTF-8
