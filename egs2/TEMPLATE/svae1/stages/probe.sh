#!/usr/bin/env bash
# Stages 17-21: the understanding axis. A SUPERB-style ASR probe (ESPnet's ASR task: frozen
# features -> Linear -> 2-layer BiLSTM -> CTC over characters) and a speaker-id probe (pooled
# features + linear classifier) on the frozen latent of each VAE, and on baselines.
# Sourced by svae.sh (needs its variables and helpers: log, stage_msg, hash_of, is_done, mark_done,
# min, ${python}, ${train_cmd}/${cuda_cmd}/${decode_cmd}, ${_icmd}, ${_ngpu_inf}); defines
#   run_probe_stages     per VAE config, inside run_config (uses ${svae_exp}, ${svae_tag}, ${model_file}, ${model_key})
#   run_probe_baselines  the probes named in its argument or ${probe_baselines} ("fbank", "teacher", "judge")
#
#   17 token list (characters, or sentencepiece BPE with --token_type bpe --nbpe N), shared by all probes
#   18 collect stats (shapes; feature statistics too when the probe config uses global_mvn)
#   19 train the probe -> ${expdir}/probe_<tag>
#   20 decode ${probe_test_set}: CTC greedy (best path, batched) and CTC beam (ESPnet's prefix search)
#      -> ${expdir}/probe_<tag>/decode_<set>_ctc_<mode>/text
#   21 speaker id on held-out utterances of ${probe_train_set}'s speakers, WER/CER
#      -> ${expdir}/probe_<tag>/scores/metrics.json (axis "understanding": wer, cer, sid_acc)
#
# Options (declared in svae.sh): probe_config probe_args probe_{train,valid,test}_set probe_baselines
# probe_feature probe_input probe_inference_model probe_decode_modes probe_sid_heldout

_probe_sets() {
    _ptrain=${probe_train_set:-${train_set}}
    _pvalid=${probe_valid_set:-${valid_set}}
    _ptest=${probe_test_set:-${test_set}}
}

_probe_token_dir() {
    if [ "${token_type}" = bpe ]; then echo "${expdir}/probe_tokens/bpe${nbpe}"; else echo "${expdir}/probe_tokens/${token_type}"; fi
}

# ---- stage 17: token list (once for all probes) ----
probe_token_list() {
    _probe_sets
    local tdir; tdir=$(_probe_token_dir)
    local text=${dumpdir}/raw/${_ptrain}/text
    stage_msg 17 "Probe token list (${token_type}) from ${text} -> ${tdir}/tokens.txt"
    local key; key=$(hash_of ${text} "${token_type}" "${nbpe}")
    if is_done ${tdir}/.done "${key}"; then log "  up to date"; return 0; fi
    mkdir -p ${tdir}
    local tok_args=(--token_type "${token_type}")
    if [ "${token_type}" = bpe ]; then
        cut -f 2- -d" " ${text} > ${tdir}/train.txt
        ${train_cmd} ${tdir}/spm_train.log ${python} -m espnet_plugin.bin.spm_train --input=${tdir}/train.txt \
            --vocab_size=${nbpe} --model_type=unigram --model_prefix=${tdir}/bpe --character_coverage=1.0 \
            --input_sentence_size=100000000
        tok_args+=(--bpemodel ${tdir}/bpe.model)
    elif [ "${token_type}" != char ]; then
        log "Error: token_type=${token_type}: the probe supports char and bpe"; return 1
    fi
    ${train_cmd} ${tdir}/tokenize.log ${python} -m espnet_plugin.bin.espnet espnet2.bin.tokenize_text "${tok_args[@]}" \
        --input ${text} --output ${tdir}/tokens.txt --field 2- --cleaner none --g2p none \
        --write_vocabulary true --add_symbol "<blank>:0" --add_symbol "<unk>:1" --add_symbol "<sos/eos>:-1"
    mark_done ${tdir}/.done "${key}"
    log "  $(wc -l < ${tdir}/tokens.txt) tokens"
    # before training: every utterance of the probe's sets in wav.scp, text and utt2spk (an error naming
    # them all); characters of their text outside the token list are listed (warn: a small training set
    # may lack a rare letter of the valid/test text; it becomes <unk>)
    ${python} -m espnet_plugin.bin.check_data_dir --token_list ${tdir}/tokens.txt --unknown_chars warn \
        $(for s in $(printf '%s\n' ${_ptrain} ${_pvalid} ${_ptest} | sort -u); do echo --data_dir ${dumpdir}/raw/${s}; done)
}

# ---- stages 18-21 for one probe ----
# Inputs (set by the callers): ptag, _pinput (wav|latents), _platdir (latents root for _pinput=latents),
# _pfargs (array: frontend arguments), _pdeps (array: files the features depend on, or their file_key
# lines), _psid (array: sid_probe feature arguments, empty = no speaker-id probe).
_probe_pipeline() {
    _probe_sets
    local pexp=${expdir}/probe_${ptag}
    local tdir; tdir=$(_probe_token_dir)
    local token_args=(--token_type "${token_type}" --token_list ${tdir}/tokens.txt --non_linguistic_symbols none
        --cleaner none --g2p none)
    [ "${token_type}" = bpe ] && token_args+=(--bpemodel ${tdir}/bpe.model)
    _pdata() {  # data spec of a set for the probe's input
        if [ "${_pinput}" = latents ]; then echo "${_platdir}/$1/latents.scp,speech,kaldi_ark"
        else echo "${dumpdir}/raw/$1/wav.scp,speech,sound"; fi
    }
    _pscp() { _pdata "$1" | cut -d, -f1; }
    local data_args=(--train_data_path_and_name_and_type "$(_pdata ${_ptrain})"
        --train_data_path_and_name_and_type ${dumpdir}/raw/${_ptrain}/text,text,text
        --valid_data_path_and_name_and_type "$(_pdata ${_pvalid})"
        --valid_data_path_and_name_and_type ${dumpdir}/raw/${_pvalid}/text,text,text)
    local norm; norm=$(${python} -m espnet_plugin.bin.config_query ${probe_config} normalize)
    local stats=${pexp}/stats
    local _pngpu; _pngpu=$(min ${ngpu} 1)
    log "---- probe ${ptag}: input ${_pinput}, ${_pfargs[*]:-no frontend options} -> ${pexp}"

    if [ ${stage} -le 18 ] && [ ${stop_stage} -ge 18 ] && ! "${skip_train}"; then
        stage_msg 18 "Probe ${ptag}: shapes (and feature statistics with global_mvn) -> ${stats}"
        local key; key=$(hash_of "$(_pscp ${_ptrain})" "$(_pscp ${_pvalid})" ${dumpdir}/raw/${_ptrain}/text \
            ${dumpdir}/raw/${_pvalid}/text ${tdir}/tokens.txt ${probe_config} "${norm}" "${_pfargs[*]}" "${_pdeps[@]}")
        if is_done ${stats}/.done "${key}"; then log "  up to date"; else
            rm -rf ${stats}
            if [ "${norm}" = global_mvn ]; then   # feature mean/var: ESPnet's collect-stats pass
                ${train_cmd} --gpu ${_pngpu} ${pexp}/collect_stats.log ${python} -m espnet_plugin.bin.asr_probe_train \
                    --collect_stats true --use_preprocessor true --config ${probe_config} "${token_args[@]}" \
                    "${data_args[@]}" --train_shape_file "$(_pscp ${_ptrain})" --valid_shape_file "$(_pscp ${_pvalid})" \
                    --output_dir ${stats} --ngpu ${_pngpu} "${_pfargs[@]}" ${probe_args}
            else                                   # shapes only: read them from the data, no model pass
                local sset sdir
                for sset in ${_ptrain}:train ${_pvalid}:valid; do
                    sdir=${stats}/${sset#*:}; mkdir -p ${sdir}
                    if [ "${_pinput}" = latents ]; then
                        ${python} -m espnet_plugin.bin.feat_dim "$(_pscp ${sset%%:*})" --shape_out ${sdir}/speech_shape
                    else
                        cp ${dumpdir}/raw/${sset%%:*}/utt2num_samples ${sdir}/speech_shape
                    fi
                done
            fi
            mark_done ${stats}/.done "${key}"
        fi
    fi

    local norm_args=()
    [ "${norm}" = global_mvn ] && norm_args=(--normalize_conf stats_file=${stats}/train/feats_stats.npz)
    if [ ${stage} -le 19 ] && [ ${stop_stage} -ge 19 ] && ! "${skip_train}"; then
        stage_msg 19 "Probe ${ptag}: train (log: ${pexp}/train.log)"
        local key; key=$(hash_of ${probe_config} "${probe_args}" "${_pfargs[*]}" ${tdir}/tokens.txt \
            ${stats}/train/speech_shape ${stats}/valid/speech_shape "${_pdeps[@]}")
        if is_done ${pexp}/.done_train "${key}"; then log "  already trained: ${pexp}/${probe_inference_model}"; else
            if [ -f ${pexp}/.key_train ] && [ "$(cat ${pexp}/.key_train)" != "${key}" ]; then
                log "  the probe's inputs changed (features, config, tokens or data): discarding its old checkpoints"
                rm -rf ${pexp}/*.pth ${pexp}/config.yaml ${pexp}/images ${pexp}/tensorboard ${pexp}/decode_* ${pexp}/scores
            fi
            mkdir -p ${pexp}; echo "${key}" > ${pexp}/.key_train
            write_exp_run_sh ${pexp} 17
            ${cuda_cmd} --gpu ${_pngpu} ${pexp}/train.log ${python} -m espnet_plugin.bin.asr_probe_train \
                --use_preprocessor true --resume true --config ${probe_config} "${token_args[@]}" "${data_args[@]}" \
                --train_shape_file ${stats}/train/speech_shape --valid_shape_file ${stats}/valid/speech_shape \
                --output_dir ${pexp} --ngpu ${_pngpu} "${_pfargs[@]}" "${norm_args[@]}" ${probe_args}
            mark_done ${pexp}/.done_train "${key}"
        fi
    fi

    local decs=() mode
    for mode in ${probe_decode_modes}; do decs+=("${mode}"); done
    if [ ${stage} -le 20 ] && [ ${stop_stage} -ge 20 ] && ! "${skip_eval}"; then
        stage_msg 20 "Probe ${ptag}: decode ${_ptest} (CTC ${probe_decode_modes})"
        local test_scp; test_scp=$(_pscp ${_ptest})
        for mode in "${decs[@]}"; do
            local dconf=conf/probe/decode_ctc_${mode}.yaml dec=${pexp}/decode_${_ptest}_ctc_${mode}
            [ -f ${dconf} ] || { log "Error: no decoding config ${dconf}"; return 1; }
            local key; key=$(hash_of ${pexp}/${probe_inference_model} ${test_scp} ${dconf})
            if is_done ${dec}/.done "${key}"; then log "  ${mode}: up to date"; continue; fi
            rm -rf ${dec}; mkdir -p ${dec}/logdir
            if [ "${mode}" = greedy ]; then   # CTC best path, a batch at a time (one job)
                ${_icmd} --gpu ${_ngpu_inf} ${pexp}/decode_${mode}.log ${python} -m espnet_plugin.bin.asr_probe_inference \
                    --greedy_ctc true --batch_size 16 --ngpu ${_ngpu_inf} --data_path_and_name_and_type "$(_pdata ${_ptest})" \
                    --asr_train_config ${pexp}/config.yaml --asr_model_file ${pexp}/${probe_inference_model} \
                    --output_dir ${dec}/logdir/output.1
            else                              # ESPnet's prefix search, per utterance, --inference_nj jobs
            local _nj; _nj=$(min ${inference_nj} $(wc -l < ${test_scp}))
            split_list ${test_scp} ${_nj} ${dec}/logdir/keys
            ${_icmd} --gpu ${_ngpu_inf} JOB=1:${_nj} ${pexp}/decode_${mode}.JOB.log ${python} -m espnet_plugin.bin.asr_probe_inference \
                --config ${dconf} --ngpu ${_ngpu_inf} --data_path_and_name_and_type "$(_pdata ${_ptest})" \
                --key_file ${dec}/logdir/keys/$(basename ${test_scp} .scp).JOB.scp --asr_train_config ${pexp}/config.yaml \
                --asr_model_file ${pexp}/${probe_inference_model} --output_dir ${dec}/logdir/output.JOB
            fi
            cat ${dec}/logdir/output.*/1best_recog/text | sort -k1,1 > ${dec}/text
            mark_done ${dec}/.done "${key}"
            log "  ${mode}: $(wc -l < ${dec}/text) hypotheses -> ${dec}/text"
        done
    fi

    if [ ${stage} -le 21 ] && [ ${stop_stage} -ge 21 ] && ! "${skip_eval}"; then
        stage_msg 21 "Probe ${ptag}: speaker id + WER/CER -> ${pexp}/scores/metrics.json"
        local sid_json=""
        if [ ${#_psid[@]} -gt 0 ]; then
            sid_json=${pexp}/sid/sid.json
            local key; key=$(hash_of ${dumpdir}/raw/${_ptrain}/utt2spk "${_psid[*]}" "${_pdeps[@]}" "${probe_sid_heldout}")
            if is_done ${pexp}/sid/.done "${key}"; then log "  speaker id: up to date"; else
                ${_icmd} --gpu ${_ngpu_inf} ${pexp}/sid.log ${python} -m espnet_plugin.bin.sid_probe "${_psid[@]}" \
                    --utt2spk ${dumpdir}/raw/${_ptrain}/utt2spk --heldout ${probe_sid_heldout} \
                    --device ${_device} --out_json ${sid_json}
                mark_done ${pexp}/sid/.done "${key}"
            fi
        else
            log "  speaker id: no features for ${ptag} on ${_ptrain}: sid_acc left empty"
        fi
        local hyps=() hyp_files=()
        for mode in "${decs[@]}"; do
            hyps+=(--hyp ctc_${mode}=${pexp}/decode_${_ptest}_ctc_${mode}/text)
            hyp_files+=(${pexp}/decode_${_ptest}_ctc_${mode}/text)
        done
        local key; key=$(hash_of ${dumpdir}/raw/${_ptest}/text "${hyp_files[@]}" ${sid_json} "${ptag}")
        if is_done ${pexp}/scores/.done "${key}"; then log "  up to date"; else
            ${decode_cmd} ${pexp}/score.log ${python} -m espnet_plugin.bin.score_probe \
                --ref_text ${dumpdir}/raw/${_ptest}/text "${hyps[@]}" ${sid_json:+--sid_json ${sid_json}} \
                --tag ${ptag} --out_dir ${pexp}/scores
            mark_done ${pexp}/scores/.done "${key}"
        fi
        log "  $(tr -d '\n' < ${pexp}/scores/metrics.json | cut -c1-200)"
    fi
}

_latents_ready() {  # all three probe sets extracted (stage 10) under $1
    local s
    for s in ${_ptrain} ${_pvalid} ${_ptest}; do [ -f "$1/${s}/latents.scp" ] && [ -f "$1/${s}/.done" ] || return 1; done
}

run_probe_stages() {
    _probe_sets
    [ ${stage} -le 21 ] || return 0
    if [ ${stage} -le 17 ] && [ ${stop_stage} -ge 17 ] && ! "${skip_train}"; then probe_token_list; fi
    [ ${stop_stage} -ge 18 ] || return 0
    local ptag=${svae_tag} _pinput=wav _platdir=${svae_exp}/latents
    [ "${probe_feature}" = latent ] || ptag=${svae_tag}_layers
    local mode_in=${probe_input}
    if [ "${mode_in}" = auto ]; then
        mode_in=frontend
        [ "${probe_feature}" = latent ] && [ "${ngpu}" -eq 0 ] && _latents_ready ${_platdir} && mode_in=latents
    fi
    local _pfargs=() _pdeps=("${model_key}" ${svae_exp}/config.yaml) _psid=()   # model_key: run_config's
    if [ "${mode_in}" = latents ]; then
        _latents_ready ${_platdir} || { log "Error: probe_input=latents but ${_platdir}/<set>/latents.scp is missing (stage 10)"; return 1; }
        [ "${probe_feature}" = latent ] || { log "Error: probe_input=latents needs probe_feature=latent"; return 1; }
        _pinput=latents
        local dim; dim=$(${python} -m espnet_plugin.bin.feat_dim ${_platdir}/${_ptrain}/latents.scp)
        _pfargs=(--input_size ${dim})
        _pdeps+=(${_platdir}/${_ptrain}/.done ${_platdir}/${_pvalid}/.done ${_platdir}/${_ptest}/.done)
    else
        _pfargs=(--frontend svae_latent --frontend_conf vae_config=${svae_exp}/config.yaml
            --frontend_conf vae_model_file=${model_file} --frontend_conf feature=${probe_feature})
    fi
    if [ -f ${_platdir}/${_ptrain}/latents.scp ]; then
        _psid=(--feats_scp ${_platdir}/${_ptrain}/latents.scp)
        _pdeps+=(${_platdir}/${_ptrain}/.done)
    else
        _psid=(--wav_scp ${dumpdir}/raw/${_ptrain}/wav.scp --feature vae --vae_config ${svae_exp}/config.yaml
            --vae_model_file ${model_file})
    fi
    _probe_pipeline
}

run_probe_baselines() {   # [names]: these baselines (default: ${probe_baselines})
    _probe_sets
    local names=${1:-${probe_baselines}}
    [ -n "${names}" ] || return 0
    [ ${stop_stage} -ge 17 ] && [ ${stage} -le 21 ] || return 0
    if [ ${stage} -le 17 ] && ! "${skip_train}"; then probe_token_list; fi
    [ ${stop_stage} -ge 18 ] || return 0
    local b
    for b in ${names}; do
        local ptag=${b} _pinput=wav _platdir="" _pfargs=() _pdeps=() _psid=()
        case ${b} in
            fbank)  # ESPnet's default frontend: 80-d log-mel fbank, 25 ms window, 10 ms hop (SUPERB's FBANK)
                _pfargs=(--frontend default --frontend_conf fs=${fs} --frontend_conf n_fft=512
                    --frontend_conf win_length=400 --frontend_conf hop_length=160 --frontend_conf n_mels=80)
                _psid=(--wav_scp ${dumpdir}/raw/${_ptrain}/wav.scp --feature fbank --fs ${fs}) ;;
            teacher)  # upper bound: weighted sum of all teacher layers; s3prl_frozen keeps the upstream frozen in eval
                if declare -F wait_teacher >/dev/null; then wait_teacher; fi
                local up=${teacher} path=${teacher_path}
                if [ "${teacher}" = hubert_tiny ]; then up=espnet_hubert_local; path=${teacher_dir}/valid.loss.best.pth; fi
                _pfargs=(--frontend s3prl_frozen --frontend_conf frontend_conf.upstream=${up}
                    --frontend_conf multilayer_feature=true)
                [ -n "${path}" ] && _pfargs+=(--frontend_conf frontend_conf.path_or_url=${path}) && _pdeps=(${path})
                ptag=teacher_${teacher_tag}
                if [ -f ${teacher_dump}/${_ptrain}/feats.scp ]; then   # teacher cache (layer ${teacher_layer})
                    _psid=(--feats_scp ${teacher_dump}/${_ptrain}/feats.scp); _pdeps+=(${teacher_dump}/${_ptrain}/.done)
                fi ;;
            judge)  # the in-domain ASR judge of generated speech: Fbank with its own (longer, SpecAugment) config
                _pfargs=(--frontend default --frontend_conf fs=${fs} --frontend_conf n_fft=512
                    --frontend_conf win_length=400 --frontend_conf hop_length=160 --frontend_conf n_mels=80)
                ( probe_config=${judge_config}; probe_args=${judge_args}; _probe_pipeline )
                continue ;;
            none) continue ;;
            *) log "Error: unknown probe baseline '${b}' (fbank, teacher, judge)"; return 1 ;;
        esac
        _probe_pipeline
    done
}
