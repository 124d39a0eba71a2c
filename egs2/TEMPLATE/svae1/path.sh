# Activates a Python environment for the recipe; never installs anything (no apt-get, no pip).
# Sourced by run.sh, every stage and every job, like ESPnet's path.sh. In this order:
#   1. the active one: $VIRTUAL_ENV, or a python3 on PATH that imports espnet_plugin (your own
#      ESPnet environment after `pip install -e <clone>`, a conda env, ...);
#   2. else the venv that local/env.sh builds (local/venv_path.sh says where);
#   3. else an error naming the set-up command, and `return 1`.
# Either way this clone's espnet_plugin comes first on PYTHONPATH, so the recipe runs its own code
# even when the environment's editable install points at another clone.
_recipe_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_ep_path_sh() {
    local root
    root="$(cd "${_recipe_root}/../../.." && pwd)"
    # shellcheck disable=SC1091
    . "${root}/local/venv_path.sh" || return 1
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        :   # keep the active venv
    elif command -v python3 >/dev/null && python3 -c "import espnet_plugin" >/dev/null 2>&1; then
        :   # keep the python that already has the plugin
    elif [ -f "${ESPNET_PLUGIN_VENV}/.complete" ]; then
        # shellcheck disable=SC1091
        . "${ESPNET_PLUGIN_VENV}/bin/activate" || return 1
    else
        echo "[path.sh] ERROR: no Python environment with espnet_plugin: none is active (VIRTUAL_ENV unset," \
             "python3 cannot import espnet_plugin) and ${ESPNET_PLUGIN_VENV} is not built." >&2
        echo "[path.sh] Set it up once, from ${root}: 'bash local/run_tests.sh' or 'source local/env.sh'" \
             "(see README: The two commands), or activate your own ESPnet environment" \
             "after 'pip install -e ${root}'." >&2
        return 1
    fi
    case ":${PYTHONPATH:-}:" in
        *":${root}:"*) ;;
        *) export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}" ;;
    esac
    export PYTHONUNBUFFERED=1
    # offline: never try a model hub at run time
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    export MPLBACKEND=Agg
}
_ep_path_sh || return 1
export LC_ALL=C.UTF-8
export PYTHONIOENCODING=UTF-8
