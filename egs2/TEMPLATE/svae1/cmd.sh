# ====== About run.sh / slurm.sh ======
# Every stage runs its Python entry point through one of these commands, with the interface of
# Kaldi/ESPnet's run.pl:   ${train_cmd} [--gpu N] [JOB=1:N] <log> <command...>
#   local:  utils/run.pl    - runs on this machine (jobs in parallel), output in the log
#   slurm:  utils/slurm.pl  - one sbatch array job per call, waits for it (sbatch --wait); its
#           options become sbatch options through conf/slurm.conf (Kaldi's format: edit it for
#           your site, e.g. "command sbatch --export=ALL --partition=gpu"), or SLURM_EXTRA_OPTS.
# (run.pl / slurm.pl are links to the bash scripts run.sh / slurm.sh: ESPnet's launcher,
#  espnet2.bin.launch, picks its multi-node method by these names: srun for slurm.pl.)
# Both accept Kaldi's options (--gpu, --mem, --num-threads, --max-jobs-run, --config, hyphens or
# underscores). With $ESPNET_ROOT set, run.sh links utils/ to ESPnet's (Kaldi's own scripts).
cmd_backend=${CMD_BACKEND:-local}

if [ "${cmd_backend}" = local ]; then
    export train_cmd="utils/run.pl"
    export cuda_cmd="utils/run.pl"
    export decode_cmd="utils/run.pl"
elif [ "${cmd_backend}" = slurm ]; then
    export train_cmd="utils/slurm.pl --config conf/slurm.conf --num_threads 4 --mem 16G"
    export cuda_cmd="utils/slurm.pl --config conf/slurm.conf --num_threads 8 --mem 64G"
    export decode_cmd="utils/slurm.pl --config conf/slurm.conf --num_threads 2 --mem 8G"
else
    echo "$0: unknown cmd_backend=${cmd_backend} (local or slurm)" >&2
    return 1
fi
