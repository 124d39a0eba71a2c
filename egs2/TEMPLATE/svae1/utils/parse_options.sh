#!/usr/bin/env bash
# Parse options into the caller's shell variables, with the interface of Kaldi's
# utils/parse_options.sh (this recipe's own script). Usage inside a script, after the defaults:
#   . utils/parse_options.sh
# --name value and --name=value; dashes in a name map to underscores (--max-jobs-run = --max_jobs_run).
# Only variables that already exist may be set (a typo is an error naming it); a variable whose
# default is true or false only takes true or false. --config FILE sources FILE (name=value lines)
# before the command-line options, which win over it. --help / -h prints ${help_message} and exits 0.
# Parsing stops at the first argument that is not an option; "--" ends the options.
for ((_i = 1; _i < $#; _i++)); do
    if [ "${!_i}" = --config ]; then
        _j=$((_i + 1)); _cfg=${!_j}
        [ -r "${_cfg}" ] || { echo "$0: cannot read the config file '${_cfg}' (--config)" >&2; exit 1; }
        # shellcheck disable=SC1090
        . "${_cfg}"
    fi
done
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h) if [ -n "${help_message:-}" ]; then echo "${help_message}" >&2; else echo "$0: no help (see the script header)" >&2; fi; exit 0 ;;
        --) shift; break ;;
        --config) [ $# -ge 2 ] || { echo "$0: option --config needs a value" >&2; exit 1; }; shift 2; continue ;;
        --*=*) _name="${1%%=*}"; _name="${_name#--}"; _value="${1#*=}"; shift ;;
        --*) _name="${1#--}"; [ $# -ge 2 ] || { echo "$0: option --${_name} needs a value" >&2; exit 1; }; _value="$2"; shift 2 ;;
        *) break ;;
    esac
    _name="${_name//-/_}"
    if [[ ! "${_name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || ! declare -p "${_name}" >/dev/null 2>&1; then
        echo "$0: invalid option --${_name}" >&2; exit 1
    fi
    if { [ "${!_name}" = true ] || [ "${!_name}" = false ]; } && [ "${_value}" != true ] && [ "${_value}" != false ]; then
        echo "$0: option --${_name} takes true or false, got '${_value}'" >&2; exit 1
    fi
    printf -v "${_name}" '%s' "${_value}"
done
unset _name _value _i _j _cfg
true
