#!/usr/bin/env bash
# Local job runner with the interface of Kaldi/ESPnet's run.pl:
#   utils/run.sh [--gpu N] [--mem X] [--num_threads N] [JOB=1:N] <log> <command...>
# Also reachable as utils/run.pl: espnet2.bin.launch then refuses --num_nodes > 1 with a clear error.
# "JOB" in the log name and the command is replaced by the job index; jobs run in parallel;
# each job's output goes to its log (with the command and its exit status); the runner fails
# (naming the failed logs) if any job fails. Jobs without --gpu N (N > 0) run with CUDA_VISIBLE_DEVICES="".
set -u
gpu=0
while [[ $# -gt 0 && "$1" == --* ]]; do
    case "$1" in
        --gpu) gpu="$2"; shift 2 ;;
        --mem|--num_threads|--time|--max_jobs_run|--config|--name) shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 1 ;;
    esac
done
start=1; end=1; jobvar=""
if [[ "${1:-}" =~ ^([A-Za-z_]+)=([0-9]+):([0-9]+)$ ]]; then
    jobvar="${BASH_REMATCH[1]}"; start="${BASH_REMATCH[2]}"; end="${BASH_REMATCH[3]}"; shift
elif [[ "${1:-}" =~ ^([A-Za-z_]+)=([0-9]+)$ ]]; then
    jobvar="${BASH_REMATCH[1]}"; start="${BASH_REMATCH[2]}"; end="${BASH_REMATCH[2]}"; shift
fi
[ $# -ge 2 ] || { echo "usage: $0 [--gpu N] [JOB=1:N] <log> <command...>" >&2; exit 1; }
log="$1"; shift
# each argument quoted, so spaces and braces survive "bash -c"
cmd=$(printf '%q ' "$@")
pids=(); logs=()
for ((j = start; j <= end; j++)); do
    if [ -n "${jobvar}" ]; then
        l="${log//${jobvar}/${j}}"; c="${cmd//${jobvar}/${j}}"
    else
        l="${log}"; c="${cmd}"
    fi
    mkdir -p "$(dirname "${l}")"
    (
        echo "# ${c}"
        echo "# Started at $(date)"
        # a job without --gpu N (N > 0) sees no GPU, as a Slurm job without --gres, whatever the caller's
        # CUDA_VISIBLE_DEVICES: CPU jobs never take GPU memory from a training beside them
        [ "${gpu}" -gt 0 ] 2>/dev/null || export CUDA_VISIBLE_DEVICES=""
        bash -c "${c}"
        rc=$?
        echo "# Accounting: time=${SECONDS} threads=1"
        echo "# Ended (code ${rc}) at $(date)"
        exit ${rc}
    ) > "${l}" 2>&1 &
    pids+=($!); logs+=("${l}")
done
failed=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "$0: job failed, log is in ${logs[$i]}" >&2
        tail -n 15 "${logs[$i]}" >&2
        failed=1
    fi
done
exit ${failed}
