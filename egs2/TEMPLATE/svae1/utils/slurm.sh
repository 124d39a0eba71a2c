#!/usr/bin/env bash
# Slurm job runner with the interface of utils/run.sh (and Kaldi's slurm.pl):
#   utils/slurm.sh [--gpu N] [--mem X] [--num_threads N] [--time T] [--num_nodes N] [JOB=1:N] <log> <command...>
# Submits one sbatch array job and waits for it (sbatch --wait); logs per task like run.sh.
# --num_nodes N (from ESPnet's launcher, which then runs "srun ... --dist_launcher slurm") allocates
# N nodes with one task each and --gpu GPUs per node: srun starts one trainer per node.
# Also reachable as utils/slurm.pl, the name espnet2.bin.launch recognises for multi-node runs.
# Extra sbatch options: SLURM_EXTRA_OPTS="--partition=gpu --account=..." in cmd.sh.
set -u
gpu=0; mem=""; threads=1; time_limit=""; job_name=""; nodes=1
while [[ $# -gt 0 && "$1" == --* ]]; do
    case "$1" in
        --gpu) gpu="$2"; shift 2 ;;
        --mem) mem="$2"; shift 2 ;;
        --num_threads) threads="$2"; shift 2 ;;
        --time) time_limit="$2"; shift 2 ;;
        --name) job_name="$2"; shift 2 ;;
        --num_nodes) nodes="$2"; shift 2 ;;
        --max_jobs_run|--config) shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 1 ;;
    esac
done
start=1; end=1; jobvar=""
if [[ "${1:-}" =~ ^([A-Za-z_]+)=([0-9]+):([0-9]+)$ ]]; then
    jobvar="${BASH_REMATCH[1]}"; start="${BASH_REMATCH[2]}"; end="${BASH_REMATCH[3]}"; shift
fi
log="$1"; shift
# each argument quoted, so spaces and braces survive "bash -c"
cmd=$(printf '%q ' "$@")
mkdir -p "$(dirname "${log}")"
script="$(dirname "${log}")/q/$(basename "${log//${jobvar:-JOB}/array}").sh"
mkdir -p "$(dirname "${script}")"
{
    echo "#!/usr/bin/env bash"
    echo "cd $(pwd)"
    echo "[ -f ./path.sh ] && . ./path.sh"
    echo "j=\${SLURM_ARRAY_TASK_ID:-1}"
    if [ -n "${jobvar}" ]; then
        echo "c=\$(printf '%s' $(printf '%q' "${cmd}") | sed \"s/${jobvar}/\${j}/g\")"
        echo "l=\$(printf '%s' $(printf '%q' "${log}") | sed \"s/${jobvar}/\${j}/g\")"
    else
        echo "c=$(printf '%q' "${cmd}"); l=$(printf '%q' "${log}")"
    fi
    echo 'echo "# $c" > "$l"; bash -c "$c" >> "$l" 2>&1; rc=$?; echo "# Ended (code $rc) at $(date)" >> "$l"; exit $rc'
} > "${script}"
opts=(--wait --cpus-per-task="${threads}" --array="${start}-${end}" --output=/dev/null)
[ "${gpu}" -gt 0 ] && opts+=(--gres="gpu:${gpu}")
[ "${nodes}" -gt 1 ] && opts+=(--nodes="${nodes}" --ntasks-per-node=1)
[ -n "${mem}" ] && opts+=(--mem="${mem}")
[ -n "${time_limit}" ] && opts+=(--time="${time_limit}")
[ -n "${job_name}" ] && opts+=(--job-name="$(basename "${job_name}")")
# shellcheck disable=SC2086
sbatch "${opts[@]}" ${SLURM_EXTRA_OPTS:-} "${script}"
