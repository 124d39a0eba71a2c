#!/usr/bin/env bash
# The embedded default recipe: an offline multi-speaker corpus synthesised with espeak-ng and flite,
# a small HuBERT teacher pretrained with ESPnet's HuBERT task, tiny CPU configs.
# On 2 CPU cores every stage is import-bound rather than compute-bound, hence one job per stage (nj 1).
#   ./run.sh                                   # everything, end to end, on CPU
#   ./run.sh --stage 7 --stop_stage 9          # resume in the middle
#   ./run.sh --svae_config conf/cpu/train_svae_tas.yaml   # another loss, into its own exp/ dir
set -e
set -u
set -o pipefail

train_set=train
valid_set=dev
test_sets="test"

./svae.sh \
    --ngpu 0 \
    --nj 1 \
    --inference_nj 1 \
    --fs 16000 \
    --teacher hubert_tiny \
    --teacher_layer -1 \
    --teacher_config conf/teacher/hubert_tiny_cpu.yaml \
    --svae_configs "conf/cpu/train_mel_vocoder.yaml conf/cpu/train_svae_vanilla.yaml conf/cpu/train_svae_jmas.yaml" \
    --eval_max_utts 20 \
    --tts_config conf/tts/train_f5_tiny_cpu.yaml \
    --tts_max_pairs 8 \
    --tts_inference_args "--nfe 16" \
    --probe_config conf/probe/train_probe_cpu.yaml \
    --probe_args "--max_epoch 2" \
    --probe_decode_modes greedy \
    --tts_args "--max_epoch 6" \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    "$@"
