#!/usr/bin/env bash
# Where local/env.sh builds the project's venv; computes, never creates anything.
# Sourced by local/env.sh (which builds and activates it) and by the recipes' path.sh (which only
# activates it). Sets _ep_root, _ep_req, _ep_hash, _ep_cache and exports
#   ESPNET_PLUGIN_VENV=${ESPNET_PLUGIN_CACHE:-$HOME/.cache/espnet_plugin}/venv-<sha256(conf/requirements.txt)[:12]>
# conf/requirements.txt holds the exact pins of that venv: any change to its bytes means a new
# venv (~8 GB) on every machine.

_ep_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_ep_req="${_ep_root}/conf/requirements.txt"
_ep_hash="$(sha256sum "${_ep_req}" | cut -c1-12)"
_ep_cache="${ESPNET_PLUGIN_CACHE:-${HOME}/.cache/espnet_plugin}"
export ESPNET_PLUGIN_VENV="${_ep_cache}/venv-${_ep_hash}"
