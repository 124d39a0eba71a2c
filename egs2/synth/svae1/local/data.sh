#!/usr/bin/env bash
# Data stage of the synthetic recipe: synthesise the offline multi-speaker corpus
# (espeak-ng + flite voices, generated English text) and write Kaldi dirs
# data/{train,dev,test}. Test speakers never occur in train/dev (zero-shot TTS);
# dev holds out utterances of the training speakers. Idempotent (data/.synth_done).
#
#   local/data.sh [--num_utts 640] [--num_voices 24] [--num_test_speakers 4] [--seed 0] [--nj 2]
#                 [--data_dir data] [--db_dir downloads/synth (default: $SYNTH of db.sh)]
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

SECONDS=0
num_utts=640
num_voices=24
num_test_speakers=4
dev_utts_per_speaker=2
seed=0
nj=2
data_dir=data
db_dir=""

# tiny inline option parser: --name value
while [ $# -gt 0 ]; do
    case "$1" in
        --num_utts|--num_voices|--num_test_speakers|--dev_utts_per_speaker|--seed|--nj|--data_dir|--db_dir)
            [ $# -ge 2 ] || { log "option $1 needs a value"; exit 1; }
            name=${1#--}; printf -v "${name}" '%s' "$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) log "unknown option: $1"; exit 1 ;;
    esac
done

[ -f ./db.sh ] && . ./db.sh
SYNTH=${db_dir:-${SYNTH:-downloads/synth}}
[ -f ./path.sh ] && . ./path.sh

command -v espeak-ng >/dev/null || { log "espeak-ng not found (apt-get install espeak-ng)"; exit 1; }
command -v flite >/dev/null || { log "flite not found (apt-get install flite)"; exit 1; }

log "synthesising ${num_utts} utterances with ${num_voices} voices into ${SYNTH}"
python -m espnet_plugin.bin.make_synth_corpus \
    --db_dir "${SYNTH}" \
    --data_dir "${data_dir}" \
    --num_utts "${num_utts}" \
    --num_voices "${num_voices}" \
    --num_test_speakers "${num_test_speakers}" \
    --dev_utts_per_speaker "${dev_utts_per_speaker}" \
    --seed "${seed}" \
    --nj "${nj}" \
    --no_progress

log "Successfully finished. [elapsed=${SECONDS}s]"
