#!/usr/bin/env bash
# run_jobs: svae.sh's job scheduler (sourced by svae.sh; needs log, elapsed, ${svae_jobs}, ${expdir}).
#
#   run_jobs <runner> <namer> <spec>[@<dep> <dep> ...] ...
#
# <runner> <spec> runs one job; <namer> <spec> prints its name, which is also its log,
# ${expdir}/logs/<name>.log, and what other specs name as their deps. A dep "a/b" is met when
# either job is done. With ${svae_jobs} > 1, up to that many jobs run side by side (subshells):
# each loop starts, in the order given, every job whose deps are done while a slot is free, else
# waits for one job to end. A job whose dep failed is skipped (and counts as failed); a dep that is
# not a job of the call is never met. The call fails (exit 1) after every job has ended if any failed.
# With ${svae_jobs} <= 1 the jobs run one by one in the order given, in this shell (the order must
# then put every job after its deps).

run_jobs() {
    local runner=$1 namer=$2; shift 2
    local -A job_name=() state=()
    local failed=0 pid rc n_done
    local rcdir; rcdir=$(mktemp -d "${TMPDIR:-/tmp}/run_jobs.XXXXXX")   # run state: <pid>.rc per ended job
    # (each job's subshell records its own exit status: "wait -n <pids>" loses jobs that end while
    # this shell runs a command substitution)
    _rj_reap() {  # wait until at least one running job has ended; record each that has
        n_done=0
        while [ ${n_done} -eq 0 ]; do
            for pid in "${!job_name[@]}"; do
                [ -f "${rcdir}/${pid}.rc" ] || continue
                rc=$(cat "${rcdir}/${pid}.rc"); wait "${pid}" 2>/dev/null || true
                n_done=$((n_done + 1))
                if [ "${rc}" != 0 ]; then
                    log "Error: job ${job_name[${pid}]} failed (exit ${rc}); the end of ${expdir}/logs/${job_name[${pid}]}.log:"
                    tail -n 25 "${expdir}/logs/${job_name[${pid}]}.log" >&2 || true
                    failed=1; state[${job_name[${pid}]}]=failed
                else
                    log "  job ${job_name[${pid}]} done [$(elapsed) elapsed]"
                    state[${job_name[${pid}]}]=done
                fi
                unset "job_name[${pid}]"
            done
            [ ${n_done} -gt 0 ] || sleep 0.5
        done
    }
    _rj_deps() {  # <deps>: prints ready, wait or failed
        local d alt any
        for d in $1; do
            any=failed
            for alt in ${d//\// }; do
                case "${state[${alt}]:-}" in done) any=done; break ;; failed) ;; *) any=wait ;; esac
            done
            [ "${any}" = done ] || { echo "${any}"; return 0; }
        done
        echo ready
    }
    local j spec deps name started
    local -a queue=("$@") rest
    local -A name_of=()   # spec (with its deps) -> job name, asked of the namer once
    for j in "$@"; do name_of[${j}]=$("${namer}" "${j%%@*}"); done
    while [ ${#queue[@]} -gt 0 ] || [ ${#job_name[@]} -gt 0 ]; do
        rest=(); started=0
        for j in "${queue[@]}"; do
            spec=${j%%@*}; deps=""; [[ "${j}" != *@* ]] || deps=${j#*@}
            name=${name_of[${j}]}
            if [ "${svae_jobs}" -le 1 ]; then "${runner}" "${spec}"; state[${name}]=done; continue; fi
            case "$(_rj_deps "${deps}")" in
                failed) log "Error: job ${name} skipped: a job it needs (${deps}) failed"; failed=1
                        state[${name}]=failed; continue ;;
                ready) if [ ${#job_name[@]} -lt ${svae_jobs} ]; then
                           mkdir -p "${expdir}/logs"
                           ( trap 'echo $? > "${rcdir}/${BASHPID}.rc.tmp" && mv "${rcdir}/${BASHPID}.rc.tmp" "${rcdir}/${BASHPID}.rc"' EXIT
                             "${runner}" "${spec}" ) > "${expdir}/logs/${name}.log" 2>&1 &
                           job_name[$!]=${name}; started=1
                           log "  job ${name} started (log: ${expdir}/logs/${name}.log)"
                           continue
                       fi ;;
            esac
            rest+=("${j}")
        done
        queue=("${rest[@]}")
        if [ ${started} -eq 0 ]; then
            if [ ${#job_name[@]} -gt 0 ]; then _rj_reap
            elif [ ${#queue[@]} -gt 0 ]; then
                log "Error: jobs wait for jobs that never run: ${queue[*]}"; failed=1; queue=()
            fi
        fi
    done
    rm -rf "${rcdir}"
    [ ${failed} -eq 0 ] || { log "Error: some jobs failed (see above)"; exit 1; }
}
