#!/usr/bin/env bash
# Parse --name value / --name=value options into the caller's shell variables (Kaldi/ESPnet style).
# Usage inside a script, after defining defaults:   . utils/parse_options.sh
# Only variables that already exist may be set (a typo is an error); dashes map to underscores.
while true; do
    [ -z "${1:-}" ] && break
    case "$1" in
        --help|-h) if [ -n "${help_message:-}" ]; then echo "${help_message}" >&2; else echo "see the script header" >&2; fi; exit 0 ;;
        --*=*) _name="${1%%=*}"; _name="${_name#--}"; _value="${1#*=}"; shift ;;
        --*) _name="${1#--}"; [ $# -ge 2 ] || { echo "$0: option --${_name} needs a value" >&2; exit 1; }; _value="$2"; shift 2 ;;
        *) break ;;
    esac
    _name="${_name//-/_}"
    if ! declare -p "${_name}" >/dev/null 2>&1; then
        echo "$0: invalid option --${_name}" >&2; exit 1
    fi
    printf -v "${_name}" '%s' "${_value}"
done
unset _name _value
true
