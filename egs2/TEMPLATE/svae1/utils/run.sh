#!/usr/bin/env bash
# Local job runner with the interface of Kaldi's utils/run.pl (this recipe's own script):
#   utils/run.pl [options] [JOB=1:N] <log> <command...>      (options and JOB=... in either order)
# Options (hyphens or underscores): --gpu N, --max-jobs-run N (also -tc N: at most N jobs at once;
# default all), --num-threads N, --mem X, --time T, --config F, --name X; any other "--opt value" is
# ignored, as Kaldi's run.pl ignores the queue options it cannot use.
# Also reachable as utils/run.pl: espnet2.bin.launch then refuses --num_nodes > 1 with a clear error.
# "JOB" in the log name and the command is replaced by the job index; each job's output goes to its
# log (with the command, "# Accounting: ..." and "# Ended (code N) ..." lines as Kaldi writes them);
# the runner fails (naming the failed logs) if any job fails. Jobs without --gpu N (N > 0) run with
# CUDA_VISIBLE_DEVICES="" (a CPU job never takes GPU memory from a training beside it).
set -u
gpu=0; max_jobs_run=0; threads=1
start=1; end=1; jobvar=""
usage="usage: $0 [--gpu N] [--max-jobs-run N] [--num-threads N] [JOB=1:N] <log> <command...>"
while [ $# -gt 0 ]; do
    if [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
        jobvar="${BASH_REMATCH[1]}"; start="${BASH_REMATCH[2]}"; end="${BASH_REMATCH[3]}"; shift; continue
    elif [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)$ ]]; then
        jobvar="${BASH_REMATCH[1]}"; start="${BASH_REMATCH[2]}"; end="${BASH_REMATCH[2]}"; shift; continue
    fi
    [[ "$1" == -* ]] || break
    opt="${1//-/_}"; opt="${opt#__}"
    case "${opt}" in
        _V) shift; continue ;;   # qsub's -V: nothing to do here
    esac
    [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; echo "${usage}" >&2; exit 1; }
    case "${opt}" in
        gpu) gpu="$2" ;;
        max_jobs_run|_tc) max_jobs_run="$2" ;;
        num_threads) threads="$2" ;;
        *) ;;   # --mem, --time, --config, --name, queue options: meaningless on this machine
    esac
    shift 2
done
[[ "${max_jobs_run}" =~ ^[0-9]+$ ]] || { echo "$0: --max-jobs-run needs a number, got '${max_jobs_run}'" >&2; exit 1; }
[[ "${gpu}" =~ ^[0-9]+$ ]] || { echo "$0: --gpu needs a number, got '${gpu}'" >&2; exit 1; }
[ "${start}" -le "${end}" ] || { echo "$0: empty job range ${jobvar}=${start}:${end}" >&2; exit 1; }
[ $# -ge 2 ] || { echo "${usage}" >&2; exit 1; }
log="$1"; shift
if [ -n "${jobvar}" ] && [ "${end}" -gt "${start}" ] && [[ "${log}" != *"${jobvar}"* ]]; then
    echo "$0: the log name ${log} lacks ${jobvar}: the jobs would write one file" >&2; exit 1
fi
# each argument quoted, so spaces and braces survive "bash -c"
cmd=$(printf '%q ' "$@")
declare -A job_log=()
failed=0
reap() {   # wait for one job; report it if it failed
    local pid="" rc=0
    wait -n -p pid "${!job_log[@]}" || rc=$?
    [ -n "${pid}" ] || return 0
    if [ ${rc} -ne 0 ]; then
        echo "$0: job failed, log is in ${job_log[${pid}]}" >&2
        tail -n 15 "${job_log[${pid}]}" >&2
        failed=1
    fi
    unset "job_log[${pid}]"
}
for ((j = start; j <= end; j++)); do
    if [ -n "${jobvar}" ]; then
        l="${log//${jobvar}/${j}}"; c="${cmd//${jobvar}/${j}}"
    else
        l="${log}"; c="${cmd}"
    fi
    mkdir -p "$(dirname "${l}")"
    while [ "${max_jobs_run}" -gt 0 ] && [ ${#job_log[@]} -ge "${max_jobs_run}" ]; do reap; done
    (
        SECONDS=0
        echo "# ${c}"
        echo "# Started at $(date)"
        [ "${gpu}" -gt 0 ] || export CUDA_VISIBLE_DEVICES=""
        bash -c "${c}"
        rc=$?
        echo "# Accounting: time=${SECONDS} threads=${threads}"
        echo "# Ended (code ${rc}) at $(date)"
        exit ${rc}
    ) > "${l}" 2>&1 &
    job_log[$!]="${l}"
done
while [ ${#job_log[@]} -gt 0 ]; do reap; done
exit ${failed}
