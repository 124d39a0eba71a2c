#!/usr/bin/env bash
# Stages 12-16 of svae.sh: an F5-TTS-style flow-matching TTS trained on the frozen VAE's latents
# (for the mel_vocoder config: on log-mel frames, i.e. the Mel+F5-TTS baseline), zero-shot on the
# unseen test speakers, decoded by the VAE's own decoder. Sourced by svae.sh; uses its variables.
#   12: token list (characters; sentencepiece BPE with --token_type bpe): tts_token_list, stages/common.sh
#   13: collect stats of the latents (ESPnet collect-stats' files: shapes, feats_stats.npz for global_mvn)
#   14: train the latent TTS (ESPnet trainer, EMA weights)
#   15: synthesise the test set zero-shot (prompt = another utterance of the same test speaker)
#   16: score generation (score_generation, after every run): WER/CER by the ASR judge (--tts_asr_judge:
#       probe = the Fbank probe trained on the corpus' real audio in stages 17-21; pocketsphinx;
#       whisper_large_v3), speaker similarity prompt vs output, MOS estimate


# run_tts_stages --svae_tag TAG --svae_exp DIR --model_file FILE --model_key KEY
# stages 12-15 on the latents of one trained VAE: DIR (its exp dir, latents of stage 10 in DIR/latents),
# FILE (its weights) and KEY (file_key of FILE, hashed into the keys) -> ${expdir}/tts_TAG
run_tts_stages() {
    local svae_tag svae_exp model_file model_key
    named_args run_tts_stages svae_tag svae_exp model_file model_key -- "$@" || return 1
    local tts_exp=${expdir}/tts_${svae_tag}
    local lat=${svae_exp}/latents
    local tokdir; tokdir=$(tts_token_dir)
    local bpe_args=""
    [ "${token_type}" = bpe ] && bpe_args="--bpemodel ${tokdir}/bpe.model"

    if [ ${stage} -le 12 ] && [ ${stop_stage} -ge 12 ] && ! "${skip_train}"; then tts_token_list; fi

    local data_args="--train_data_path_and_name_and_type ${lat}/${train_set}/latents.scp,feats,kaldi_ark \
        --train_data_path_and_name_and_type ${dumpdir}/raw/${train_set}/text,text,text \
        --valid_data_path_and_name_and_type ${lat}/${valid_set}/latents.scp,feats,kaldi_ark \
        --valid_data_path_and_name_and_type ${dumpdir}/raw/${valid_set}/text,text,text"

    if [ ${stage} -le 13 ] && [ ${stop_stage} -ge 13 ] && ! "${skip_train}"; then
        stage_msg 13 "TTS collect stats of the ${svae_tag} latents -> ${tts_exp}/stats"
        # a latents.scp holds only keys and ark offsets, the same for latents of a retrained VAE:
        # the stage-10 markers (model + wav.scp) say which latents are in the arks
        local key; key=$(hash_of ${lat}/${train_set}/latents.scp ${lat}/${train_set}/.done \
            ${lat}/${valid_set}/latents.scp ${lat}/${valid_set}/.done ${tokdir}/tokens.txt ${tts_config})
        if is_done ${tts_exp}/stats/.done "${key}"; then log "  up to date"; else
            # ESPnet collect-stats' outputs (shape files, feats_stats.npz), written without building the
            # task and its model (~15 s less per config; tests/test_bin_tts_collect_stats.py compares)
            # shellcheck disable=SC2086
            ${train_cmd} ${tts_exp}/stats/collect_stats.log ${python} -m espnet_plugin.bin.tts_collect_stats \
                --output_dir ${tts_exp}/stats --config ${tts_config} --token_type ${token_type} --token_list ${tokdir}/tokens.txt ${bpe_args} \
                --train_latents ${lat}/${train_set}/latents.scp --train_text ${dumpdir}/raw/${train_set}/text \
                --valid_latents ${lat}/${valid_set}/latents.scp --valid_text ${dumpdir}/raw/${valid_set}/text
            mark_done ${tts_exp}/stats/.done "${key}"
        fi
    fi

    if [ ${stage} -le 14 ] && [ ${stop_stage} -ge 14 ] && ! "${skip_train}"; then
        stage_msg 14 "Train the latent TTS on ${svae_tag} (log: ${tts_exp}/train.log)"
        local key; key=$(hash_of ${tts_exp}/stats/.done ${tts_config} "${tts_args}")
        if is_done ${tts_exp}/.done_train "${key}"; then log "  already trained: ${tts_exp}"; else
            if [ -f ${tts_exp}/.key_train ] && [ "$(cat ${tts_exp}/.key_train)" != "${key}" ]; then
                log "Error: ${tts_exp} holds a TTS trained from other inputs; remove it or use another --tag."; exit 1
            fi
            mkdir -p ${tts_exp}; echo "${key}" > ${tts_exp}/.key_train
            write_exp_run_sh ${tts_exp} 12
            local dim; dim=$(${python} -m espnet_plugin.bin.feat_dim ${lat}/${train_set}/latents.scp)
            # shellcheck disable=SC2086
            ${python} -m espnet2.bin.launch \
                --cmd "${cuda_cmd} --name ${tts_exp}/train.log" --log ${tts_exp}/train.log \
                --ngpu ${ngpu} --num_nodes ${num_nodes} --init_file_prefix ${tts_exp}/.dist_init_ \
                --multiprocessing_distributed true -- \
                ${python} -m espnet_plugin.bin.latent_tts_train --config ${tts_config} --resume true \
                --token_type ${token_type} --token_list ${tokdir}/tokens.txt ${bpe_args} \
                --dit_conf latent_dim=${dim} --normalize global_mvn \
                --normalize_conf stats_file=${tts_exp}/stats/train/feats_stats.npz ${data_args} \
                --train_shape_file ${tts_exp}/stats/train/feats_shape --valid_shape_file ${tts_exp}/stats/valid/feats_shape \
                --output_dir ${tts_exp} ${tts_args}
            mark_done ${tts_exp}/.done_train "${key}"
        fi
    fi

    local gen=${tts_exp}/gen_${tts_test_set}
    if [ ${stage} -le 15 ] && [ ${stop_stage} -ge 15 ] && ! "${skip_eval}"; then
        stage_msg 15 "Zero-shot synthesis of ${tts_test_set} (unseen speakers) with ${svae_tag} -> ${gen}"
        local tts_model=${tts_exp}/${tts_inference_model}
        if [ ! -f "${tts_model}" ]; then
            log "Error: no TTS checkpoint ${tts_model} (trained in stage 14; --tts_inference_model names the file)"
            exit 1
        fi
        local key; key=$(hash_of ${tts_model} "${model_key}" ${dumpdir}/raw/${tts_test_set}/wav.scp "${tts_inference_args}" "${tts_max_pairs}")
        if is_done ${gen}/.done "${key}"; then log "  up to date"; else
            ${python} -m espnet_plugin.bin.make_tts_pairs --data_dir ${dumpdir}/raw/${tts_test_set} \
                --output ${gen}/pairs.tsv --max_pairs ${tts_max_pairs}
            # shellcheck disable=SC2086
            ${_icmd} --gpu ${_ngpu_inf} ${gen}/inference.log ${python} -m espnet_plugin.bin.latent_tts_inference \
                --train_config ${tts_exp}/config.yaml --model_file ${tts_model} \
                --vae_config ${svae_exp}/config.yaml --vae_model_file ${model_file} \
                --list ${gen}/pairs.tsv --output_dir ${gen} --device ${_device} --skip_bad_utts ${skip_bad_utts} \
                ${tts_inference_args}
            drop_bad_utts ${gen} ${gen}/pairs.tsv   # skipped prompts are not scored as failed syntheses
            mark_done ${gen}/.done "${key}"
            log "  $(ls ${gen}/wav | wc -l) utterances, RTF $(cat ${gen}/rtf.txt 2>/dev/null | tr -d '\n')"
        fi
    fi

}

# probe_judge_decode <wav dir> <out dir>: the probe baseline ${probe_judge} (the in-domain ASR judge
# trained on the corpus' real audio in stages 17-21: fbank, or the longer-trained "judge") decodes every
# <wav dir>/*.wav -> <out dir>/output/1best_recog/text
probe_judge_decode() {
    local judge=${expdir}/probe_${probe_judge} f
    mkdir -p $2
    for f in $1/*.wav; do echo "$(basename ${f} .wav) ${f}"; done | sort > $2/wav.scp
    ${_icmd} --gpu ${_ngpu_inf} $2/decode.log ${python} -m espnet_plugin.bin.asr_probe_inference \
        --greedy_ctc true --batch_size 16 --ngpu ${_ngpu_inf} \
        --data_path_and_name_and_type $2/wav.scp,speech,sound \
        --asr_train_config ${judge}/config.yaml --asr_model_file ${judge}/${probe_inference_model} \
        --output_dir $2/output
}

# score_generation --svae_tag TAG: stage 16 for one run (after run_config, once the probe judge is
# trained): score_tts on ${expdir}/tts_TAG/gen_${tts_test_set}
score_generation() {
    local svae_tag
    named_args score_generation svae_tag -- "$@" || return 1
    [ ${stage} -le 16 ] && [ ${stop_stage} -ge 16 ] && ! "${skip_eval}" || return 0
    local tts_exp=${expdir}/tts_${svae_tag}
    local gen=${tts_exp}/gen_${tts_test_set}
    stage_msg 16 "Score generation of ${svae_tag} (ASR judge ${tts_asr_judge}, speaker similarity, MOS)"
    local judge_model=${expdir}/probe_${probe_judge}/${probe_inference_model}
    local key; key=$(hash_of ${gen}/.done "${tts_asr_judge} ${sim_judge} ${mos_judge}" ${judge_model})
    if is_done ${gen}/scores/.done "${key}"; then log "  up to date: ${gen}/scores/metrics.json"; else
        local probe_opt=""
        if [ -f "${judge_model}" ]; then
            probe_judge_decode ${gen}/wav ${gen}/probe_judge
            probe_opt="--probe_hyp_text ${gen}/probe_judge/output/1best_recog/text"
        elif [ "${tts_asr_judge}" = probe ]; then
            log "Error: --tts_asr_judge probe needs the probe ${judge_model} (stages 17-21, --probe_baselines ${probe_judge})"
            return 1
        else
            log "  no probe judge (${judge_model}): WER from ${tts_asr_judge} only"
        fi
        # on the GPU with --gpu_inference true (the whisper judge uses one when it sees one)
        # shellcheck disable=SC2086
        ${_icmd} --gpu ${_ngpu_inf} ${gen}/scores/score.log ${python} -m espnet_plugin.bin.score_tts \
            --list ${gen}/pairs.tsv --hyp_dir ${gen}/wav --out_dir ${gen}/scores \
            --asr_judge ${tts_asr_judge} --sim_judge ${sim_judge} --mos_judge ${mos_judge} ${judge_weights} \
            --tag ${svae_tag} --skip_bad_utts ${skip_bad_utts} ${probe_opt}
        mark_done ${gen}/scores/.done "${key}"
    fi
    log "  $(tr -d '\n' < ${gen}/scores/metrics.json | cut -c1-300)"
}
