#!/usr/bin/env bash
# Pieces the stage files share. Sourced by svae.sh (needs its helpers log, stage_msg, hash_of,
# is_done, mark_done and ${python}, ${train_cmd}); defines
#   named_args       the option parser of the stage functions (they take their inputs as --name value)
#   make_token_list  stages 12 and 17: the token list of the latent TTS and of the ASR probes
#   tts_token_dir, probe_token_dir, tts_token_list, probe_token_list

# named_args FN SPEC... -- ARGS...: parse ARGS ("--name value" pairs) into the caller's locals.
# SPEC: "name" (required, non-empty), "name=" (optional: the caller's default stays) or "name+"
# (repeatable: each value is appended to the caller's array "name"). The caller declares them local
# first. An unknown option, a missing value or a missing required option is an error naming FN.
#   f() { local tag dir=""; local -a dep=(); named_args f tag dir= dep+ -- "$@" || return 1; ...; }
named_args() {
    local _na_fn=$1 _na_spec _na_name _na_kind _na_n
    shift
    local -A _na_kinds=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        _na_spec=$1; _na_kind=${_na_spec: -1}
        case "${_na_kind}" in
            "=" | "+") _na_kinds[${_na_spec%?}]=${_na_kind} ;;
            *) _na_kinds[${_na_spec}]=required ;;
        esac
        shift
    done
    [ $# -gt 0 ] && shift   # the --
    while [ $# -gt 0 ]; do
        _na_name=${1#--}
        if [ "$1" = "${_na_name}" ] || [ -z "${_na_name}" ] || [ -z "${_na_kinds[${_na_name}]+x}" ]; then
            log "Error: ${_na_fn}: unknown option '$1' (options: ${!_na_kinds[*]})"; return 1
        fi
        [ $# -ge 2 ] || { log "Error: ${_na_fn}: option $1 needs a value"; return 1; }
        if [ "${_na_kinds[${_na_name}]}" = "+" ]; then
            local -n _na_ref=${_na_name}
            _na_ref+=("$2")
            unset -n _na_ref
        else
            printf -v "${_na_name}" '%s' "$2"
        fi
        shift 2
    done
    for _na_n in "${!_na_kinds[@]}"; do
        if [ "${_na_kinds[${_na_n}]}" = required ] && [ -z "${!_na_n-}" ]; then
            log "Error: ${_na_fn}: --${_na_n} is required"; return 1
        fi
    done
}

# make_token_list --text FILE --dir DIR --token_type char|bpe --nbpe N
# The Kaldi text FILE -> DIR/tokens.txt: ESPnet's tokenize_text vocabulary (by frequency) after
# <blank> (0) and <unk> (1), <sos/eos> last; for bpe a sentencepiece unigram model DIR/bpe.model
# (N pieces) first. Up to date when DIR/.done holds the key of (FILE, token type, N); logs in DIR.
make_token_list() {
    local text dir token_type nbpe
    named_args make_token_list text dir token_type nbpe -- "$@" || return 1
    local key; key=$(hash_of ${text} "${token_type}" "${nbpe}")
    if is_done ${dir}/.done "${key}"; then log "  up to date: ${dir}/tokens.txt"; return 0; fi
    mkdir -p ${dir}
    local tok_args=(--token_type "${token_type}")
    if [ "${token_type}" = bpe ]; then
        cut -f 2- -d " " ${text} > ${dir}/train.txt
        ${train_cmd} ${dir}/spm_train.log ${python} -m espnet_plugin.bin.spm_train --input=${dir}/train.txt \
            --vocab_size=${nbpe} --model_type=unigram --model_prefix=${dir}/bpe --character_coverage=1.0 \
            --input_sentence_size=100000000
        tok_args+=(--bpemodel ${dir}/bpe.model)
    elif [ "${token_type}" != char ]; then
        log "Error: token_type=${token_type}: the TTS and the probes support char and bpe"; return 1
    fi
    ${train_cmd} ${dir}/tokenize.log ${python} -m espnet_plugin.bin.espnet espnet2.bin.tokenize_text "${tok_args[@]}" \
        --input ${text} --output ${dir}/tokens.txt.tmp --field 2- --cleaner none --g2p none \
        --write_vocabulary true --add_symbol "<blank>:0" --add_symbol "<unk>:1" --add_symbol "<sos/eos>:-1"
    mv ${dir}/tokens.txt.tmp ${dir}/tokens.txt
    mark_done ${dir}/.done "${key}"
    log "  $(wc -l < ${dir}/tokens.txt) tokens -> ${dir}/tokens.txt"
}

# where the token lists live (the TTS's bpe dir has no size in its name: kept, as the keys of
# trained models hash these paths)
tts_token_dir() { echo "${expdir}/tts_tokens/${token_type}"; }
probe_token_dir() {
    if [ "${token_type}" = bpe ]; then echo "${expdir}/probe_tokens/bpe${nbpe}"; else echo "${expdir}/probe_tokens/${token_type}"; fi
}

# stage 12 (once for all configs; the list depends on ${train_set}'s text only)
tts_token_list() {
    stage_msg 12 "TTS token list (${token_type}) -> $(tts_token_dir)"
    make_token_list --text ${dumpdir}/raw/${train_set}/text --dir "$(tts_token_dir)" \
        --token_type "${token_type}" --nbpe "${nbpe}" || return 1
    check_sets "$(tts_token_dir)/tokens.txt" ${train_set} ${valid_set} ${tts_test_set}
}

# stage 17 (once for all probes), from the probes' training set
probe_token_list() {
    local text=${dumpdir}/raw/${probe_train_set:-${train_set}}/text
    stage_msg 17 "Probe token list (${token_type}) from ${text} -> $(probe_token_dir)/tokens.txt"
    make_token_list --text ${text} --dir "$(probe_token_dir)" --token_type "${token_type}" --nbpe "${nbpe}" || return 1
    check_sets "$(probe_token_dir)/tokens.txt" ${probe_train_set:-${train_set}} ${probe_valid_set:-${valid_set}} \
        ${probe_test_set:-${test_set}}
}

# check_sets TOKEN_LIST SET...: before training, every utterance of the sets in wav.scp, text and
# utt2spk (one error naming them all); characters of their text outside the token list are listed
# (a warning: a small training set may lack a rare letter of the valid/test text; it becomes <unk>)
check_sets() {
    local tokens=$1; shift
    ${python} -m espnet_plugin.bin.check_data_dir --token_list ${tokens} --unknown_chars warn \
        $(for s in $(printf '%s\n' "$@" | sort -u); do echo --data_dir ${dumpdir}/raw/${s}; done)
}
