#!/usr/bin/env bash
# The embedded default recipe: an offline multi-speaker corpus synthesised with espeak-ng and flite,
# a small HuBERT teacher pretrained with ESPnet's HuBERT task, tiny CPU configs. Two profiles:
#
#   ./run.sh                          # smoke: every stage end to end in ~10 min on 2 cores (exp/);
#                                     #   proves the pipeline, its differences between losses mean nothing
#   ./run.sh --profile evidence       # evidence: 1 h 21 min on 2 cores (exp_evidence/): bigger corpus, longer
#                                     #   training, 2 seeds, all test utterances, teacher probe, margin grid
#   ./run.sh --profile evidence --stage 23    # the demo on the evidence models
#
# Any svae.sh option after the profile overrides it, e.g.
#   ./run.sh --stage 7 --stop_stage 9                      # resume in the middle
#   ./run.sh --svae_config cpu/tas                         # another loss, into its own exp/ dir
# Every process runs one torch thread; --svae_jobs N runs N configs side by side (slowest, i.e. most
# alignment terms, first): on 2 cores, 2-4 single-thread jobs beat one 2-thread job.
# The whole script is one { ... } block: bash parses it completely before running it, so editing
# this file while a long run executes it cannot change what that run does next.
{
set -e
set -u
set -o pipefail

# utils/ (and steps, scripts, pyscripts) from ESPnet when $ESPNET_ROOT is set, else the template's own
"$(dirname "$(readlink -f ./svae.sh)")/link_utils.sh"

profile=smoke
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || { echo "$0: --profile needs a value (smoke, evidence)" >&2; exit 2; }
                   profile=$2; shift 2 ;;
        --profile=*) profile=${1#*=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

# one torch/BLAS thread per process: steadier than two on 2 cores (bench/RESULTS.md); parallelism
# comes from jobs side by side
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

common=(
    --ngpu 0
    --nj 1
    --inference_nj 1
    --fs 16000
    --teacher hubert_tiny
    --teacher_layer -1
    --teacher_config conf/teacher/hubert_tiny_cpu.yaml
    --tts_asr_judge probe
    --probe_decode_modes greedy
    --train_set train
    --valid_set dev
    --test_sets test
)

case "${profile}" in
    smoke)
        opts=(
            --svae_jobs 4       # every run and the Fbank probe at once: unequal jobs end together
            --svae_configs "cpu/jmas cpu/mel_vocoder cpu/vanilla"   # conf/cpu/base.yaml + each loss override
            --eval_max_utts 20
            --tts_config conf/tts/train_f5_tiny_cpu.yaml
            --tts_max_pairs 8
            --tts_inference_args "--nfe 16"
            --tts_args "--max_epoch 6"
            --probe_config conf/probe/train_probe_cpu.yaml
            --probe_args "--max_epoch 2"
            --summary_note "SMOKE RUN: minutes of training on tiny models; the differences between rows mean nothing. The evidence profile (./run.sh --profile evidence, ~1 h 20 min on 2 cores) is the comparison to read."
        )
        ;;
    evidence)
        opts=(
            --svae_jobs 2       # one single-thread job per core (bench/RESULTS.md)
            --datadir data_evidence --dumpdir dump_evidence --expdir exp_evidence
            --local_data_opts "--data_dir data_evidence --db_dir downloads/synth_evidence --num_utts 800 --num_voices 40 --num_test_speakers 6"
            --svae_configs "evidence/jmas evidence/tas evidence/vanilla evidence/mel_vocoder"
            --svae_seeds "1 2"
            --single_seed_configs evidence/mel_vocoder   # a fixed encoder: not a VAE to reseed
            --margin_base evidence/jmas
            --margin_grid "0.25,0.1 0.75,0.5"
            --tts_margins false  # the sweep is read on reconstruction and understanding (2 x 12 min saved)
            --eval_max_utts 0
            --tts_config conf/tts/train_f5_evidence_cpu.yaml
            --tts_max_pairs 0
            --tts_inference_args "--nfe 16"
            --probe_config conf/probe/train_probe_evidence_cpu.yaml
            --probe_baselines "fbank teacher judge"
            --probe_judge judge
            --summary_note "EVIDENCE RUN (embedded corpus, 2 CPU cores): tiny models trained for minutes; read the intervals and the paired verdicts, not the means alone."
        )
        ;;
    *) echo "$0: unknown --profile ${profile} (smoke, evidence)" >&2; exit 2 ;;
esac

./svae.sh "${common[@]}" "${opts[@]}" "${args[@]}"
exit
}
