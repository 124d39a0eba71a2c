#!/usr/bin/env bash
# The paper setting (GPU): LibriTTS for the VAE and the TTS, LibriSpeech train-clean-100 for probing,
# LibriSpeech-PC test-clean for zero-shot TTS evaluation; WavLM-Large layer 23 teacher (s3prl).
#   ./run.sh --ngpu 4                                   # all stages, the JMAS-VAE
#   ./run.sh --svae_configs "vanilla tas daxis mcos mdms jmas jmas_fixed semantic mel_vocoder"   # the comparison
#   CMD_BACKEND=slurm ./run.sh --ngpu 8 --num_nodes 2   # on a Slurm cluster (see cmd.sh)
set -e
set -u
set -o pipefail

train_set=train_clean_100
valid_set=dev_clean
test_sets="test_clean"

./svae.sh \
    --ngpu 1 \
    --nj 16 \
    --inference_nj 8 \
    --gpu_inference true \
    --fs 16000 \
    --teacher wavlm_large \
    --teacher_layer 23 \
    --svae_configs jmas \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    "$@"
