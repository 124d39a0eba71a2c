#!/usr/bin/env bash
# Stage 22 of svae.sh: one table (Markdown + CSV, a 95 % interval in every cell, a ground_truth row,
# paired verdicts against ${summary_reference}) and three pictures (axes.png, curves.png, margins.png)
# comparing every config and baseline on reconstruction, understanding and generation
# (espnet_plugin.bin.summarize reads every exp/**/metrics.json written by stages 9, 16, 21 and 22a).
# Sourced by svae.sh; uses its variables.
# Baselines: reconstruction = the mel_vocoder config (Mel + vocoder), understanding = the Fbank probe,
# generation = the TTS trained on the mel_vocoder config's log-mel frames (Mel + F5-TTS).

# 22a (run by svae.sh beside stage 16): the ground truth through the same judges: the test audio itself scored as a "resynthesis"
# (the reference utterances of stage 8) and as a "generated" utterance (the targets of stage 15's pairs)
score_ground_truth() {
    [ ${stage} -le 22 ] && [ ${stop_stage} -ge 22 ] && ! "${skip_eval}" || return 0
    local gt=${expdir}/ground_truth ref="" pairs="" d
    for d in ${expdir}/svae_*/decode_${inference_tag}_${test_set}; do [ -f ${d}/ref_wav.scp ] && ref=${d}/ref_wav.scp && break; done
    for d in ${expdir}/tts_*/gen_${tts_test_set}; do [ -f ${d}/pairs.tsv ] && pairs=${d}/pairs.tsv && break; done
    if [ -n "${ref}" ]; then
        local key; key=$(hash_of ${ref} "${metrics}" "${sim_judge} ${mos_judge}")
        if is_done ${gt}/recon/.done "${key}"; then log "  ground truth (reconstruction judges): up to date"; else
            gt_wav_dir ${ref} ${gt}/recon/wav
            ${decode_cmd} ${gt}/recon/score.log ${python} -m espnet_plugin.bin.score_recon \
                --ref_scp ${ref} --hyp_dir ${gt}/recon/wav --out_dir ${gt}/recon/scores \
                --metrics ${metrics} --sim_judge ${sim_judge} --mos_judge ${mos_judge} ${judge_weights} --tag ground_truth \
                --skip_bad_utts ${skip_bad_utts}
            mark_done ${gt}/recon/.done "${key}"
        fi
    fi
    if [ -n "${pairs}" ]; then
        local judge_model=${expdir}/probe_${probe_judge}/${probe_inference_model}
        local key; key=$(hash_of ${pairs} ${dumpdir}/raw/${tts_test_set}/wav.scp "${tts_asr_judge} ${sim_judge} ${mos_judge}" ${judge_model})
        if is_done ${gt}/gen/.done "${key}"; then log "  ground truth (generation judges): up to date"; else
            gt_wav_dir <(cut -f1 ${pairs} | grep -v '^utt$' | awk 'NR==FNR { k[$1]; next } ($1 in k)' - \
                ${dumpdir}/raw/${tts_test_set}/wav.scp) ${gt}/gen/wav
            local probe_opt=""
            if [ -f "${judge_model}" ]; then
                probe_judge_decode ${gt}/gen/wav ${gt}/gen/probe_judge
                probe_opt="--probe_hyp_text ${gt}/gen/probe_judge/output/1best_recog/text"
            fi
            ${decode_cmd} ${gt}/gen/score.log ${python} -m espnet_plugin.bin.score_tts \
                --list ${pairs} --hyp_dir ${gt}/gen/wav --out_dir ${gt}/gen/scores \
                --asr_judge ${tts_asr_judge} --sim_judge ${sim_judge} --mos_judge ${mos_judge} ${judge_weights} \
                --tag ground_truth --skip_bad_utts ${skip_bad_utts} ${probe_opt}
            mark_done ${gt}/gen/.done "${key}"
        fi
    fi
}

# gt_wav_dir <wav.scp> <dir>: <dir>/<utt>.wav links to the listed audio files (absolute paths)
gt_wav_dir() {
    rm -rf $2; mkdir -p $2
    local utt path
    while read -r utt path; do
        [ -f "${path}" ] || { log "Error: ${path} (utterance ${utt} of $1) is not an audio file"; return 1; }
        ln -s "$(readlink -f "${path}")" "$2/${utt}.wav"
    done < $1
}

run_summary_stage() {
    if [ ${stage} -le 22 ] && [ ${stop_stage} -ge 22 ] && ! "${skip_eval}"; then
        local out=${summary_dir:-${expdir}/summary}
        stage_msg 22 "Summary of every config, baseline and the ground truth -> ${out}"
        ${python} -m espnet_plugin.bin.summarize --exp_dir ${expdir} --out_dir ${out} \
            --baseline_recon ${summary_baseline_recon} --baseline_und ${summary_baseline_und} \
            --baseline_gen ${summary_baseline_gen} --reference ${summary_reference} --decode_tag ${inference_tag} \
            --smoke_note "${summary_note}" 2>&1 | tee ${out}.log | grep -v "^\[nltk" | tail -n 5
        log "  table: ${out}/table.md  pictures: $(cd ${out} && ls *.png | tr '\n' ' ')"
        cat ${out}/table.md
    fi
}
