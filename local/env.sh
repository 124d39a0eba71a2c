#!/usr/bin/env bash
# Build (once) and activate the project's Python environment.
#
#   source local/env.sh        # from the repository root (local/run_main.sh and local/run_tests.sh do)
#
# The recipes' path.sh does NOT source this file: it only activates an environment (local/venv_path.sh).
#
# The venv (~8 GB, torch CUDA build) lives OUTSIDE the clone, under
#   ${ESPNET_PLUGIN_CACHE:-$HOME/.cache/espnet_plugin}/venv-<sha256(conf/requirements.txt)[:12]>
# so a rerun, or a fresh clone on the same machine, reuses it, and a new machine
# builds it once. A stamp file marks a complete build; a half-built venv (killed
# install) has no stamp and is rebuilt. System packages (espeak-ng, flite; the tests
# add chromium) are installed with apt when missing and when we are root.
# Idempotent: a second call costs a few seconds.

# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/venv_path.sh" || return 1   # _ep_root _ep_req _ep_hash _ep_cache ESPNET_PLUGIN_VENV
_ep_log() { echo "[env] $*" >&2; }

# _ep_apt command:package ...: apt-get install the packages whose command is missing (when root)
_ep_apt() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        _ep_log "missing system packages: ${missing[*]} (not root: install them with apt-get)"
        return 0
    fi
    _ep_log "apt-get install ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2 \
        || _ep_log "WARNING: apt-get install failed for ${missing[*]}"
}

_ep_build() {
    local py="${ESPNET_PLUGIN_PYTHON:-python3.11}"
    command -v "${py}" >/dev/null || py=python3
    _ep_log "building ${ESPNET_PLUGIN_VENV} (once per requirements hash; ~10 min, ~8 GB)"
    rm -rf "${ESPNET_PLUGIN_VENV}"
    mkdir -p "${_ep_cache}"
    "${py}" -m venv "${ESPNET_PLUGIN_VENV}" || return 1
    local pip="${ESPNET_PLUGIN_VENV}/bin/pip"
    # pip 25+ refuses ci_sdr (an espnet dependency declares a git URL in an extra).
    "${pip}" install -q 'pip<25' || return 1
    local torch_pins
    torch_pins=$(grep -E '^(torch|torchaudio)==' "${_ep_req}")
    # shellcheck disable=SC2086
    "${pip}" install ${torch_pins} || return 1
    "${pip}" install -r "${_ep_req}" || return 1
    touch "${ESPNET_PLUGIN_VENV}/.complete"
}

_ep_main() {
    # already active for this clone (sourced again in the same shell)
    if [ "${VIRTUAL_ENV:-}" = "${ESPNET_PLUGIN_VENV}" ] && [ "${_EP_ACTIVE_ROOT:-}" = "${_ep_root}" ]; then
        return 0
    fi
    _ep_apt espeak-ng:espeak-ng flite:flite   # the offline corpus' synthesisers
    if [ ! -f "${ESPNET_PLUGIN_VENV}/.complete" ]; then
        # one builder at a time (two clones starting together)
        mkdir -p "${_ep_cache}"
        (
            flock 9
            [ -f "${ESPNET_PLUGIN_VENV}/.complete" ] || _ep_build
        ) 9>"${_ep_cache}/.lock-${_ep_hash}" || { _ep_log "environment build failed"; return 1; }
    fi
    # shellcheck disable=SC1091
    source "${ESPNET_PLUGIN_VENV}/bin/activate"
    # the editable install points at THIS clone; redo it when another clone took it
    local here
    # (-I: never the current directory, which would find the clone's package without the install)
    here=$(python -I - <<'PY' 2>/dev/null
import importlib.util, os
s = importlib.util.find_spec("espnet_plugin")
print(os.path.dirname(os.path.dirname(s.origin)) if s and s.origin else "")
PY
)
    if [ "${here}" != "${_ep_root}" ] || [ "${_ep_root}/setup.py" -nt "${ESPNET_PLUGIN_VENV}/.editable" ]; then
        _ep_log "pip install -e ${_ep_root}"
        pip install -q --no-deps --no-build-isolation -e "${_ep_root}" >&2 || return 1
        touch "${ESPNET_PLUGIN_VENV}/.editable"
    fi
    export PYTHONUNBUFFERED=1
    # offline: never try a model hub at run time
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    export MPLBACKEND=Agg
    export _EP_ACTIVE_ROOT="${_ep_root}"
}

_ep_main
