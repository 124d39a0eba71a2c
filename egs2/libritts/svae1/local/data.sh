#!/usr/bin/env bash
# Data stage of the LibriTTS recipe (the paper setting).
#   stage 1: download + untar LibriTTS subsets (OpenSLR 60)            -> ${LIBRITTS}/LibriTTS/<subset>
#   stage 2: Kaldi dirs data/<subset with - -> _>  (e.g. data/train_clean_100, data/test_clean)
#   stage 3: download + untar LibriSpeech subsets (OpenSLR 12) and the
#            LibriSpeech-PC manifests (OpenSLR 145)                    -> ${LIBRISPEECH}/LibriSpeech/...
#   stage 4: Kaldi dirs data/ls_<subset> (ASR probe, reconstruction) and
#            data/ls_test_clean_pc (zero-shot TTS, 4-10 s utterances)
# Downloads resume (wget -c) and are skipped when the subset is already unpacked.
# Corpora already on disk: --libritts_dir / --librispeech_dir (or LIBRITTS= / LIBRISPEECH= in db.sh)
# name the dirs holding LibriTTS/ and LibriSpeech/ (+ LibriSpeech-PC/); --download false never
# downloads (a missing subset is an error naming its dir).
#
#   local/data.sh [--stage 1] [--stop_stage 4] [--tts_subsets "train-clean-100 dev-clean test-clean"]
#                 [--ls_subsets "train-clean-100 test-clean"] [--url_base https://www.openslr.org/resources]
#                 [--libritts_dir DIR] [--librispeech_dir DIR] [--download true|false] [--data_dir data]
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

SECONDS=0
stage=1
stop_stage=4
tts_subsets="train-clean-100 dev-clean test-clean"
ls_subsets="train-clean-100 test-clean"
url_base=https://www.openslr.org/resources
data_dir=data
libritts_dir=""     # default: LIBRITTS of db.sh
librispeech_dir=""  # default: LIBRISPEECH of db.sh
download=true

# tiny inline option parser: --name value
while [ $# -gt 0 ]; do
    case "$1" in
        --stage|--stop_stage|--tts_subsets|--ls_subsets|--url_base|--data_dir|--libritts_dir|--librispeech_dir|--download)
            [ $# -ge 2 ] || { log "option $1 needs a value"; exit 1; }
            name=${1#--}; printf -v "${name}" '%s' "$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) log "unknown option: $1"; exit 1 ;;
    esac
done

[ -f ./db.sh ] && . ./db.sh
LIBRITTS=${libritts_dir:-${LIBRITTS:-downloads}}
LIBRISPEECH=${librispeech_dir:-${LIBRISPEECH:-downloads}}
case "${download}" in true|false) ;; *) log "--download ${download}: give true or false"; exit 1 ;; esac
[ -f ./path.sh ] && . ./path.sh

# download_and_untar <dest dir> <url> <dir that exists once unpacked>
# <dir>/.complete marks a finished unpack (a copy unpacked by hand: touch it to skip the download).
download_and_untar() {
    local dest=$1 url=$2 done_dir=$3
    local archive="${dest}/$(basename "${url}")"
    if [ -d "${done_dir}" ] && [ -f "${done_dir}/.complete" ]; then
        log "${done_dir} already present; skip download"
        return 0
    fi
    if ! "${download}"; then
        [ -d "${done_dir}" ] || { log "Error: ${done_dir} not found (--download false: nothing is downloaded)"; exit 1; }
        log "${done_dir} present (--download false)"
        return 0
    fi
    mkdir -p "${dest}"
    log "downloading ${url}"
    wget -c --tries=5 --progress=dot:giga -O "${archive}" "${url}"
    log "unpacking ${archive}"
    tar -xzf "${archive}" -C "${dest}"
    mkdir -p "${done_dir}"
    touch "${done_dir}/.complete"
    rm -f "${archive}"
}

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "stage 1: download LibriTTS (${tts_subsets}) to ${LIBRITTS}"
    for subset in ${tts_subsets}; do
        download_and_untar "${LIBRITTS}" "${url_base}/60/${subset}.tar.gz" \
            "${LIBRITTS}/LibriTTS/${subset}"
    done
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "stage 2: LibriTTS Kaldi dirs"
    # shellcheck disable=SC2086
    python -m espnet_plugin.bin.prep_libri --corpus libritts --root "${LIBRITTS}" \
        --subsets ${tts_subsets} --data_dir "${data_dir}"
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    log "stage 3: download LibriSpeech (${ls_subsets}) and LibriSpeech-PC manifests to ${LIBRISPEECH}"
    for subset in ${ls_subsets}; do
        download_and_untar "${LIBRISPEECH}" "${url_base}/12/${subset}.tar.gz" \
            "${LIBRISPEECH}/LibriSpeech/${subset}"
    done
    download_and_untar "${LIBRISPEECH}/LibriSpeech-PC" "${url_base}/145/manifests.tar.gz" \
        "${LIBRISPEECH}/LibriSpeech-PC"
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    log "stage 4: LibriSpeech and LibriSpeech-PC Kaldi dirs"
    # shellcheck disable=SC2086
    python -m espnet_plugin.bin.prep_libri --corpus librispeech --root "${LIBRISPEECH}" \
        --subsets ${ls_subsets} --data_dir "${data_dir}"
    manifest=$(find "${LIBRISPEECH}/LibriSpeech-PC" -name 'test-clean.json' | head -n 1)
    [ -n "${manifest}" ] || { log "test-clean.json not found under ${LIBRISPEECH}/LibriSpeech-PC"; exit 1; }
    python -m espnet_plugin.bin.prep_libri --corpus librispeech_pc --root "${LIBRISPEECH}" \
        --manifest "${manifest}" --min_seconds 4 --max_seconds 10 --data_dir "${data_dir}"
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
