#!/usr/bin/env bash
# Slurm job runner with the interface of Kaldi's utils/slurm.pl (this recipe's own script):
#   utils/slurm.pl [--config conf/slurm.conf] [options] [JOB=1:N] <log> <command...>
# Submits one sbatch array job and waits for it (sbatch --wait); logs per task like run.pl.
# Options (hyphens or underscores) are turned into sbatch options by the config, in Kaldi's format:
#   command sbatch --export=PATH        # the submit command and its fixed options
#   option mem=* --mem $0                # "--mem 8G" -> "--mem 8G" ($0 = the value)
#   option mem=0                         # an exact value wins over "*" (here: add nothing)
#   option gpu=* --gres=gpu:$0 -p gpu
#   default gpu=0                        # the value an option takes when not given
# An option the config does not describe is an error (naming it and the config). Without --config,
# conf/slurm.conf when it exists (as Kaldi's slurm.pl), else the built-in config below.
# --max-jobs-run N (at most N tasks at once: --array=1-M%N) needs no config line.
# --num_nodes N (from ESPnet's launcher, which then runs "srun ... --dist_launcher slurm") takes N
# nodes with one task each (the built-in "option num_nodes=*" line), and --gpu GPUs per node.
# Also reachable as utils/slurm.pl, the name espnet2.bin.launch recognises for multi-node runs.
# Extra sbatch options for every call: SLURM_EXTRA_OPTS="--partition=gpu --account=..." in cmd.sh.
set -u
default_config='command sbatch
option gpu=* --gres=gpu:$0
option gpu=0
option mem=* --mem=$0
option num_threads=* --cpus-per-task=$0
option time=* --time=$0
option name=* --job-name=$0
option num_nodes=* --nodes=$0 --ntasks-per-node=1
option num_nodes=1
default gpu=0
default num_threads=1'
config=""; max_jobs_run=0
start=1; end=1; jobvar=""
declare -A given=()   # option name -> value, from the command line
while [ $# -gt 0 ]; do
    if [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
        jobvar="${BASH_REMATCH[1]}"; start="${BASH_REMATCH[2]}"; end="${BASH_REMATCH[3]}"; shift; continue
    elif [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)$ ]]; then
        jobvar="${BASH_REMATCH[1]}"; start="${BASH_REMATCH[2]}"; end="${BASH_REMATCH[2]}"; shift; continue
    fi
    [[ "$1" == --* ]] || break
    [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
    opt="${1#--}"; opt="${opt//-/_}"
    case "${opt}" in
        config) config="$2" ;;
        max_jobs_run) max_jobs_run="$2" ;;
        *) given[${opt}]="$2" ;;
    esac
    shift 2
done
[ $# -ge 2 ] || { echo "usage: $0 [--config F] [--gpu N] [--mem X] [--num-threads N] [JOB=1:N] <log> <command...>" >&2; exit 1; }
log="$1"; shift

# ---- the config: submit command, per-option rules, defaults (conf/slurm.conf when it exists, as Kaldi)
[ -z "${config}" ] && [ -f conf/slurm.conf ] && config=conf/slurm.conf
if [ -n "${config}" ]; then
    [ -f "${config}" ] || { echo "$0: no config file ${config}" >&2; exit 1; }
    config_text=$(cat "${config}")
    config_name=${config}
else
    config_text=${default_config}
    config_name="the built-in config of $0"
fi
submit=(); declare -A rule=() default=()
while read -r kind rest; do
    rest="${rest%%#*}"; rest="${rest%"${rest##*[![:space:]]}"}"   # comments, trailing blanks
    case "${kind}" in
        ""|\#*) ;;
        command) read -r -a submit <<< "${rest}" ;;
        option)
            spec="${rest%%[[:space:]]*}"; opts=""; [[ "${rest}" == *[[:space:]]* ]] && opts="${rest#*[[:space:]]}"
            [[ "${spec}" == *=* ]] || { echo "$0: ${config_name}: bad line 'option ${rest}' (want option name=value ...)" >&2; exit 1; }
            rule[${spec}]="${opts#"${opts%%[![:space:]]*}"}" ;;
        default)
            [[ "${rest}" == *=* ]] || { echo "$0: ${config_name}: bad line 'default ${rest}'" >&2; exit 1; }
            default[${rest%%=*}]="${rest#*=}" ;;
        *) echo "$0: ${config_name}: unknown line '${kind} ${rest}' (command, option or default)" >&2; exit 1 ;;
    esac
done <<< "${config_text}"
[ ${#submit[@]} -gt 0 ] || { echo "$0: ${config_name} has no 'command sbatch ...' line" >&2; exit 1; }
for k in "${!default[@]}"; do [ -n "${given[${k}]+x}" ] || given[${k}]="${default[${k}]}"; done
sbatch_opts=()
for k in "${!given[@]}"; do
    v="${given[${k}]}"
    if [ -n "${rule[${k}=${v}]+x}" ]; then
        o="${rule[${k}=${v}]}"
    elif [ -n "${rule[${k}=*]+x}" ]; then
        o="${rule[${k}=*]//\$0/${v}}"
    else
        echo "$0: unknown option --${k} (value '${v}'): not described in ${config_name}" >&2; exit 1
    fi
    read -r -a words <<< "${o}"
    sbatch_opts+=("${words[@]}")
done
gpu="${given[gpu]:-0}"

# ---- the batch script: one array task per job index
cmd=$(printf '%q ' "$@")
mkdir -p "$(dirname "${log}")"
script="$(dirname "${log}")/q/$(basename "${log//${jobvar:-JOB}/array}").sh"
mkdir -p "$(dirname "${script}")"
{
    echo "#!/usr/bin/env bash"
    echo "cd $(printf '%q' "$(pwd)")"
    echo "[ -f ./path.sh ] && . ./path.sh"
    echo "j=\${SLURM_ARRAY_TASK_ID:-1}"
    if [ -n "${jobvar}" ]; then
        echo "c=\$(printf '%s' $(printf '%q' "${cmd}") | sed \"s/${jobvar}/\${j}/g\")"
        echo "l=\$(printf '%s' $(printf '%q' "${log}") | sed \"s/${jobvar}/\${j}/g\")"
    else
        echo "c=$(printf '%q' "${cmd}"); l=$(printf '%q' "${log}")"
    fi
    echo 'echo "# $c" > "$l"; echo "# Started at $(date)" >> "$l"; bash -c "$c" >> "$l" 2>&1; rc=$?'
    echo 'echo "# Ended (code $rc) at $(date)" >> "$l"; exit $rc'
} > "${script}"
array="${start}-${end}"
[ "${max_jobs_run}" -gt 0 ] 2>/dev/null && array+="%${max_jobs_run}"
# shellcheck disable=SC2086
"${submit[@]}" --wait --array="${array}" --output=/dev/null "${sbatch_opts[@]}" ${SLURM_EXTRA_OPTS:-} "${script}"
