#!/usr/bin/env bash
# Stage 22 of svae.sh: one table (Markdown + CSV) and two pictures comparing every config and
# baseline on reconstruction, understanding and generation (espnet_plugin.bin.summarize reads every
# exp/**/metrics.json written by stages 9, 16 and 21). Sourced by svae.sh; uses its variables.
# Baselines: reconstruction = the mel_vocoder config (Mel + vocoder), understanding = the Fbank probe,
# generation = the TTS trained on the mel_vocoder config's log-mel frames (Mel + F5-TTS).

run_summary_stage() {
    if [ ${stage} -le 22 ] && [ ${stop_stage} -ge 22 ] && ! "${skip_eval}"; then
        local out=${summary_dir:-${expdir}/summary}
        stage_msg 22 "Summary of every config and baseline -> ${out}"
        ${python} -m espnet_plugin.bin.summarize --exp_dir ${expdir} --out_dir ${out} \
            --baseline_recon ${summary_baseline_recon} --baseline_und ${summary_baseline_und} \
            --baseline_gen ${summary_baseline_gen} 2>&1 | tee ${out}.log | grep -v "^\[nltk" | tail -n 5
        log "  table: ${out}/table.md  pictures: ${out}/axes.png$( [ -f ${out}/margins.png ] && echo " ${out}/margins.png")"
        cat ${out}/table.md
    fi
}
