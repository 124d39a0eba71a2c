#!/usr/bin/env bash
# Choose the recipe's shell tools, as ESPnet recipes link theirs:
#   <template>/link_utils.sh [<recipe dir, default .>]       (run.sh calls it first)
# With $ESPNET_ROOT set (an ESPnet checkout whose tools are installed): the recipe's utils, steps,
# scripts and pyscripts become links to $ESPNET_ROOT/egs2/TEMPLATE/asr1/{utils,steps,scripts,pyscripts}
# (Kaldi's run.pl, slurm.pl, parse_options.sh, split_scp.pl, validate_data_dir.sh, ... and ESPnet's).
# Without it: utils links to this template's own utils/ (scripts with the same interfaces) and the
# links made for ESPnet's steps, scripts and pyscripts are removed. A real directory (not a link) of
# one of these names is never replaced: the script stops with an error instead.
set -euo pipefail
recipe=$(cd "${1:-.}" && pwd)
template=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)

# relink <name> <target>: make <recipe>/<name> a link to <target> unless it already resolves there
relink() {
    local link=${recipe}/$1
    if [ -e "${link}" ] && [ "$(readlink -f "${link}")" = "$(readlink -f "$2")" ]; then return 0; fi
    if [ -e "${link}" ] && [ ! -L "${link}" ]; then
        echo "$0: ${link} is a real directory or file, not a link: not replacing it with a link to $2" >&2
        return 1
    fi
    ln -sfn "$2" "${link}"
    echo "$0: $1 -> $2" >&2
}

if [ -n "${ESPNET_ROOT:-}" ]; then
    src=${ESPNET_ROOT%/}/egs2/TEMPLATE/asr1
    [ -d "${src}/utils" ] || { echo "$0: ESPNET_ROOT=${ESPNET_ROOT}: no ${src}/utils (an ESPnet checkout?); unset ESPNET_ROOT to use the recipe's own utils" >&2; exit 1; }
    for d in utils steps scripts pyscripts; do
        if [ -e "${src}/${d}" ]; then relink ${d} "${src}/${d}"; else echo "$0: warning: no ${src}/${d}" >&2; fi
    done
else
    relink utils "$(realpath --relative-to="${recipe}" "${template}/utils")"
    for d in steps scripts pyscripts; do
        # only links: the ones this script made for ESPnet
        if [ -L "${recipe}/${d}" ]; then rm -f "${recipe}/${d}"; echo "$0: removed the link ${d} (ESPNET_ROOT unset)" >&2; fi
    done
fi
