#!/usr/bin/env bash
# Stage 24 of svae.sh: ESPnet-style packs of the latent TTS and the ASR probe of every run (the VAE's
# pack is written by stage 11), and their upload to the Hugging Face hub (ESPnet's upload stage).
# Sourced by svae.sh (needs runs, config_vars, log, hash_of, is_done, mark_done, ${python}, ${expdir},
# ${tts_inference_model}, ${probe_inference_model}, ${inference_model}, ${probe_feature}).
#
# Runs when asked: --skip_upload_hf false --hf_repo <owner/name> (packs, then uploads) or --stage 24
# (packs only). Each pack goes to its own repo, as ESPnet uploads one model per repo:
#   <hf_repo>-svae_<tag>, <hf_repo>-tts_<tag>, <hf_repo>-probe_<tag>
# (load any of them with espnet_plugin.hub.load_pretrained("<repo>") or the local .zip).
# Uploading needs a network and a token (huggingface-cli login).

# pack_if_stale <zip> <kind> <args...>: espnet_plugin.bin.pack unless <zip> is up to date with its inputs
_pack_if_stale() {
    local zip=$1 kind=$2; shift 2
    local key; key=$(hash_of "$@")
    if is_done "${zip}.done" "${key}"; then log "  ${zip}: up to date"; return 0; fi
    ${python} -m espnet_plugin.bin.pack "${kind}" --outpath "${zip}" "$@"
    mark_done "${zip}.done" "${key}"
}

run_upload_stage() {
    if [ "${stage}" -gt 24 ] || [ "${stop_stage}" -lt 24 ]; then return 0; fi
    if "${skip_upload_hf}" && [ "${stage}" -ne 24 ]; then return 0; fi
    if ! "${skip_upload_hf}" && [ -z "${hf_repo}" ]; then
        log "Error: --skip_upload_hf false needs --hf_repo <owner/name>"; return 1
    fi
    log "== Stage 24: pack the latent TTS and probes$("${skip_upload_hf}" || echo ", upload to ${hf_repo}-*") [$(date -u -d @${SECONDS} +%M:%S) elapsed]"
    local r packs=() zip tts_exp pexp ptag
    for r in "${runs[@]}"; do
        config_vars "${r%%|*}" "${r##*|}"
        zip=${svae_exp}/${svae_exp##*/}_${inference_model%.*}.zip   # stage 11's
        [ -f "${zip}" ] && packs+=("${zip}")
        tts_exp=${expdir}/tts_${svae_tag}
        if [ -f "${tts_exp}/${tts_inference_model}" ]; then
            zip=${tts_exp}/${tts_exp##*/}_${tts_inference_model%.*}.zip
            _pack_if_stale "${zip}" tts --train_config "${tts_exp}/config.yaml" \
                --model_file "${tts_exp}/${tts_inference_model}" \
                --vae_train_config "${svae_exp}/config.yaml" --vae_model_file "${model_file}"
            packs+=("${zip}")
        fi
        ptag=${svae_tag}
        [ "${probe_feature}" = latent ] || ptag=${svae_tag}_layers
        pexp=${expdir}/probe_${ptag}
        if [ -f "${pexp}/${probe_inference_model}" ]; then
            zip=${pexp}/${pexp##*/}_${probe_inference_model%.*}.zip
            # the VAE: the one its svae_latent frontend names, else (a probe on extracted latents) this one
            _pack_if_stale "${zip}" probe --asr_train_config "${pexp}/config.yaml" \
                --asr_model_file "${pexp}/${probe_inference_model}" \
                --vae_train_config "${svae_exp}/config.yaml" --vae_model_file "${model_file}"
            packs+=("${zip}")
        fi
    done
    log "  packs: ${packs[*]:-none}"
    "${skip_upload_hf}" && return 0
    for zip in "${packs[@]}"; do
        local name; name=$(basename "$(dirname "${zip}")")
        log "  upload ${zip} -> https://huggingface.co/${hf_repo}-${name}"
        ${python} -m espnet_plugin.bin.pack upload --pack "${zip}" --hf_repo "${hf_repo}-${name}"
    done
}
