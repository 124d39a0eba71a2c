#!/usr/bin/env bash
# Stages 17-21: the understanding axis. A SUPERB-style ASR probe (ESPnet's ASR task: frozen
# features -> Linear -> 2-layer BiLSTM -> CTC over characters) and a speaker-id probe (pooled
# features + linear classifier) on the frozen latent of each VAE, and on baselines.
# Sourced by svae.sh (needs its options and helpers: log, stage_msg, hash_of, is_done, mark_done,
# min, named_args, ${python}, ${train_cmd}/${cuda_cmd}/${decode_cmd}, ${_icmd}, ${_ngpu_inf}); defines
#   run_probe_stages --svae_tag TAG --svae_exp DIR --model_file FILE --model_key KEY
#                        the probe on one trained VAE's latent (called by run_config)
#   run_probe_baselines [NAMES]  the probes named in NAMES or ${probe_baselines} ("fbank", "teacher", "judge")
#
#   17 token list (characters, or sentencepiece BPE with --token_type bpe --nbpe N), shared by all probes:
#      probe_token_list (stages/common.sh)
#   18 collect stats (shapes; feature statistics too when the probe config uses global_mvn)
#   19 train the probe -> ${expdir}/probe_<tag>
#   20 decode ${probe_test_set}: CTC greedy (best path, batched) and CTC beam (ESPnet's prefix search)
#      -> ${expdir}/probe_<tag>/decode_<set>_ctc_<mode>/text
#   21 speaker id on held-out utterances of ${probe_train_set}'s speakers, WER/CER
#      -> ${expdir}/probe_<tag>/scores/metrics.json (axis "understanding": wer, cer, sid_acc)
#
# Options (declared in svae.sh): probe_config probe_args probe_{train,valid,test}_set probe_baselines
# probe_feature probe_input probe_inference_model probe_decode_modes probe_sid_heldout

# _probe_data INPUT LATENTS_DIR SET: ESPnet's data spec of SET for a probe reading INPUT (wav: the
# dumped audio; latents: LATENTS_DIR/SET/latents.scp)
_probe_data() {
    if [ "$1" = latents ]; then echo "$2/$3/latents.scp,speech,kaldi_ark"
    else echo "${dumpdir}/raw/$3/wav.scp,speech,sound"; fi
}

# ---- stages 18-21 for one probe ----
# _probe_pipeline --tag TAG --input wav|latents [--latents_dir DIR] [--frontend_args "ARGS"]
#                 [--sid_args "ARGS"] [--dep FILE_OR_KEY]... [--config YAML] [--extra_args "ARGS"]
#   -> ${expdir}/probe_TAG.  --latents_dir: the latents root for --input latents; --frontend_args: the
#   probe's frontend options (asr_probe_train); --sid_args: sid_probe's feature options (none: no
#   speaker-id probe); --dep: what the features depend on (a file, or a file_key line), repeatable;
#   --config / --extra_args: the probe config and extra training options (default: ${probe_config},
#   ${probe_args}). ARGS are split at white space (options and paths without spaces).
_probe_pipeline() {
    local tag input latents_dir="" frontend_args="" sid_args="" config=${probe_config} extra_args=${probe_args}
    local -a dep=()
    named_args _probe_pipeline tag input latents_dir= frontend_args= sid_args= dep+ config= extra_args= -- "$@" || return 1
    case "${input}" in wav | latents) ;; *) log "Error: _probe_pipeline: --input ${input} (wav or latents)"; return 1 ;; esac
    local -a _pfargs=() _psid=() _pdeps=("${dep[@]}")
    read -r -d '' -a _pfargs <<< "${frontend_args}" || true
    read -r -d '' -a _psid <<< "${sid_args}" || true
    local ptag=${tag} _ptrain=${probe_train_set:-${train_set}} _pvalid=${probe_valid_set:-${valid_set}} _ptest=${probe_test_set:-${test_set}}
    local pexp=${expdir}/probe_${ptag}
    local tdir; tdir=$(probe_token_dir)
    local token_args=(--token_type "${token_type}" --token_list ${tdir}/tokens.txt --non_linguistic_symbols none
        --cleaner none --g2p none)
    [ "${token_type}" = bpe ] && token_args+=(--bpemodel ${tdir}/bpe.model)
    _pdata() { _probe_data "${input}" "${latents_dir}" "$1"; }   # data spec of a set for this probe
    _pscp() { _pdata "$1" | cut -d, -f1; }
    local data_args=(--train_data_path_and_name_and_type "$(_pdata ${_ptrain})"
        --train_data_path_and_name_and_type ${dumpdir}/raw/${_ptrain}/text,text,text
        --valid_data_path_and_name_and_type "$(_pdata ${_pvalid})"
        --valid_data_path_and_name_and_type ${dumpdir}/raw/${_pvalid}/text,text,text)
    local norm; norm=$(${python} -m espnet_plugin.bin.config_query ${config} normalize)
    local stats=${pexp}/stats
    local _pngpu; _pngpu=$(min ${ngpu} 1)
    log "---- probe ${ptag}: input ${input}, ${_pfargs[*]:-no frontend options} -> ${pexp}"

    if [ ${stage} -le 18 ] && [ ${stop_stage} -ge 18 ] && ! "${skip_train}"; then
        stage_msg 18 "Probe ${ptag}: shapes (and feature statistics with global_mvn) -> ${stats}"
        local key; key=$(hash_of "$(_pscp ${_ptrain})" "$(_pscp ${_pvalid})" ${dumpdir}/raw/${_ptrain}/text \
            ${dumpdir}/raw/${_pvalid}/text ${tdir}/tokens.txt ${config} "${norm}" "${_pfargs[*]}" "${_pdeps[@]}")
        if is_done ${stats}/.done "${key}"; then log "  up to date"; else
            rm -rf ${stats}
            if [ "${norm}" = global_mvn ]; then   # feature mean/var: ESPnet's collect-stats pass
                ${train_cmd} --gpu ${_pngpu} ${pexp}/collect_stats.log ${python} -m espnet_plugin.bin.asr_probe_train \
                    --collect_stats true --use_preprocessor true --config ${config} "${token_args[@]}" \
                    "${data_args[@]}" --train_shape_file "$(_pscp ${_ptrain})" --valid_shape_file "$(_pscp ${_pvalid})" \
                    --output_dir ${stats} --ngpu ${_pngpu} "${_pfargs[@]}" ${extra_args}
            else                                   # shapes only: read them from the data, no model pass
                local sset sdir
                for sset in ${_ptrain}:train ${_pvalid}:valid; do
                    sdir=${stats}/${sset#*:}; mkdir -p ${sdir}
                    if [ "${input}" = latents ]; then
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
        local key; key=$(hash_of ${config} "${extra_args}" "${_pfargs[*]}" ${tdir}/tokens.txt \
            ${stats}/train/speech_shape ${stats}/valid/speech_shape "${_pdeps[@]}")
        if is_done ${pexp}/.done_train "${key}"; then log "  already trained: ${pexp}/${probe_inference_model}"; else
            if [ -f ${pexp}/.key_train ] && [ "$(cat ${pexp}/.key_train)" != "${key}" ]; then
                log "  the probe's inputs changed (features, config, tokens or data): discarding its old checkpoints"
                rm -rf ${pexp}/*.pth ${pexp}/config.yaml ${pexp}/images ${pexp}/tensorboard ${pexp}/decode_* ${pexp}/scores
            fi
            mkdir -p ${pexp}; echo "${key}" > ${pexp}/.key_train
            write_exp_run_sh ${pexp} 17
            ${cuda_cmd} --gpu ${_pngpu} ${pexp}/train.log ${python} -m espnet_plugin.bin.asr_probe_train \
                --use_preprocessor true --resume true --config ${config} "${token_args[@]}" "${data_args[@]}" \
                --train_shape_file ${stats}/train/speech_shape --valid_shape_file ${stats}/valid/speech_shape \
                --output_dir ${pexp} --ngpu ${_pngpu} "${_pfargs[@]}" "${norm_args[@]}" ${extra_args}
            if [ ! -e ${pexp}/${probe_inference_model} ]; then
                log "Error: training ${ptag} wrote no ${pexp}/${probe_inference_model} (--probe_inference_model):"
                log "       add that criterion to best_model_criterion of ${config} (e.g. [valid, cer_ctc, min]),"
                log "       or pass --probe_inference_model with a file it writes (ls ${pexp}/*.pth)"
                return 1
            fi
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

# _latents_ready DIR SET...: every SET extracted (stage 10) under DIR
_latents_ready() {
    local d=$1 s; shift
    for s in "$@"; do [ -f "${d}/${s}/latents.scp" ] && [ -f "${d}/${s}/.done" ] || return 1; done
}

run_probe_stages() {
    local svae_tag svae_exp model_file model_key
    named_args run_probe_stages svae_tag svae_exp model_file model_key -- "$@" || return 1
    local ptrain=${probe_train_set:-${train_set}} pvalid=${probe_valid_set:-${valid_set}} ptest=${probe_test_set:-${test_set}}
    [ ${stage} -le 21 ] || return 0
    if [ ${stage} -le 17 ] && [ ${stop_stage} -ge 17 ] && ! "${skip_train}"; then probe_token_list; fi
    [ ${stop_stage} -ge 18 ] || return 0
    local ptag=${svae_tag} latdir=${svae_exp}/latents
    [ "${probe_feature}" = latent ] || ptag=${svae_tag}_layers
    local mode_in=${probe_input}
    if [ "${mode_in}" = auto ]; then
        mode_in=frontend
        [ "${probe_feature}" = latent ] && [ "${ngpu}" -eq 0 ] && _latents_ready ${latdir} ${ptrain} ${pvalid} ${ptest} && mode_in=latents
    fi
    local opts=(--tag ${ptag} --dep "${model_key}" --dep ${svae_exp}/config.yaml)
    if [ "${mode_in}" = latents ]; then
        _latents_ready ${latdir} ${ptrain} ${pvalid} ${ptest} || { log "Error: probe_input=latents but ${latdir}/<set>/latents.scp is missing (stage 10)"; return 1; }
        [ "${probe_feature}" = latent ] || { log "Error: probe_input=latents needs probe_feature=latent"; return 1; }
        local dim; dim=$(${python} -m espnet_plugin.bin.feat_dim ${latdir}/${ptrain}/latents.scp)
        opts+=(--input latents --latents_dir ${latdir} --frontend_args "--input_size ${dim}"
            --dep ${latdir}/${ptrain}/.done --dep ${latdir}/${pvalid}/.done --dep ${latdir}/${ptest}/.done)
    else
        opts+=(--input wav --frontend_args "--frontend svae_latent --frontend_conf vae_config=${svae_exp}/config.yaml
            --frontend_conf vae_model_file=${model_file} --frontend_conf feature=${probe_feature}")
    fi
    if [ -f ${latdir}/${ptrain}/latents.scp ]; then
        opts+=(--sid_args "--feats_scp ${latdir}/${ptrain}/latents.scp" --dep ${latdir}/${ptrain}/.done)
    else
        opts+=(--sid_args "--wav_scp ${dumpdir}/raw/${ptrain}/wav.scp --feature vae --vae_config ${svae_exp}/config.yaml
            --vae_model_file ${model_file}")
    fi
    _probe_pipeline "${opts[@]}"
}

run_probe_baselines() {   # [names]: these baselines (default: ${probe_baselines})
    local ptrain=${probe_train_set:-${train_set}}
    local names=${1:-${probe_baselines}}
    [ -n "${names}" ] || return 0
    [ ${stop_stage} -ge 17 ] && [ ${stage} -le 21 ] || return 0
    if [ ${stage} -le 17 ] && ! "${skip_train}"; then probe_token_list; fi
    [ ${stop_stage} -ge 18 ] || return 0
    # ESPnet's default frontend: 80-d log-mel fbank, 25 ms window, 10 ms hop (SUPERB's FBANK)
    local fbank_args="--frontend default --frontend_conf fs=${fs} --frontend_conf n_fft=512
        --frontend_conf win_length=400 --frontend_conf hop_length=160 --frontend_conf n_mels=80"
    local b
    for b in ${names}; do
        case ${b} in
            fbank)
                _probe_pipeline --tag fbank --input wav --frontend_args "${fbank_args}" \
                    --sid_args "--wav_scp ${dumpdir}/raw/${ptrain}/wav.scp --feature fbank --fs ${fs}" ;;
            teacher)  # upper bound: weighted sum of all teacher layers; s3prl_frozen keeps the upstream frozen in eval
                wait_teacher
                local up=${teacher} path=${teacher_path}
                if [ "${teacher}" = hubert_tiny ]; then up=espnet_hubert_local; path=${teacher_dir}/valid.loss.best.pth; fi
                local topts=(--tag teacher_${teacher_tag} --input wav --frontend_args "--frontend s3prl_frozen
                    --frontend_conf frontend_conf.upstream=${up} --frontend_conf multilayer_feature=true
                    ${path:+--frontend_conf frontend_conf.path_or_url=${path}}")
                if [ -n "${path}" ]; then topts+=(--dep ${path}); fi
                if [ -f ${teacher_dump}/${ptrain}/feats.scp ]; then   # teacher cache (layer ${teacher_layer})
                    topts+=(--sid_args "--feats_scp ${teacher_dump}/${ptrain}/feats.scp" --dep ${teacher_dump}/${ptrain}/.done)
                fi
                _probe_pipeline "${topts[@]}" ;;
            judge)  # the in-domain ASR judge of generated speech: Fbank with its own (longer, SpecAugment) config
                _probe_pipeline --tag judge --input wav --frontend_args "${fbank_args}" \
                    --config ${judge_config} --extra_args "${judge_args}" ;;
            none) continue ;;
            *) log "Error: unknown probe baseline '${b}' (fbank, teacher, judge)"; return 1 ;;
        esac
    done
}
