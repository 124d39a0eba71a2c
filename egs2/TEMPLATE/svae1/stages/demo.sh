#!/usr/bin/env bash
# Stage 23 of svae.sh: the Gradio demo on the recipe's trained models (sourced by svae.sh).
# Uses svae.sh's variables (stage, stop_stage, expdir, dumpdir, test_set, python, demo_port, _device)
# and helpers (log, stage_msg). Serves in the foreground on 127.0.0.1:${demo_port} until Ctrl-C.

# Print the --exp arguments: every ${expdir}/svae_* with a config and weights (its packed/ copy when
# stage 11 finished it: checksum-verified); skips the shape-statistics dir.
demo_exp_args() {
    local d
    for d in "${expdir}"/svae_*/; do
        d=${d%/}
        case "$(basename "${d}")" in svae_stats*) continue ;; esac
        if [ -f "${d}/packed/.done" ] && [ -f "${d}/packed/model.pth" ]; then
            echo "--exp ${d}/packed"
        elif [ -f "${d}/config.yaml" ] && compgen -G "${d}/*.pth" >/dev/null; then
            echo "--exp ${d}"
        fi
    done
}

# Print --tts_exp (+ --tts_vae_exp) for the first trained latent TTS found, if any:
# ${expdir}/tts_<tag> (VAE ${expdir}/svae_<tag>) or ${expdir}/svae_<tag>/tts* (VAE its parent).
demo_tts_args() {
    local d tag
    for d in "${expdir}"/tts_*/ "${expdir}"/svae_*/tts*/; do
        d=${d%/}
        [ -f "${d}/config.yaml" ] && compgen -G "${d}/*.pth" >/dev/null || continue
        case "$(basename "$(dirname "${d}")")" in
            svae_*) echo "--tts_exp ${d} --tts_vae_exp $(dirname "${d}")"; return 0 ;;
        esac
        tag=$(basename "${d}"); tag=${tag#tts_}
        if [ -d "${expdir}/svae_${tag}" ]; then
            echo "--tts_exp ${d} --tts_vae_exp ${expdir}/svae_${tag}"
        else
            echo "--tts_exp ${d}"   # the demo reads the VAE from the TTS config's latents path
        fi
        return 0
    done
}

run_demo_stage() {
    if [ "${stage}" -gt 23 ] || [ "${stop_stage}" -lt 23 ]; then
        return 0
    fi
    # a server that runs until Ctrl-C: never the end of an unattended run unless asked for
    if [ "${stage}" -ne 23 ] && ! "${demo}"; then
        log "Stage 23 (Gradio demo) not started: ./run.sh --stage 23 (or --demo true) serves it"
        return 0
    fi
    stage_msg 23 "Gradio demo: listen to the resyntheses side by side"
    local exp_args tts_args examples=""
    exp_args=$(demo_exp_args)
    if [ -z "${exp_args}" ]; then
        log "Error: no trained VAE in ${expdir}/svae_* (config.yaml + *.pth): run stages 7-11 first"
        return 1
    fi
    tts_args=$(demo_tts_args)
    [ -f "${dumpdir}/raw/${test_set}/wav.scp" ] && examples="--examples ${dumpdir}/raw/${test_set}/wav.scp"
    log "  models: $(echo "${exp_args}" | sed 's/--exp //g' | tr '\n' ' ')"
    [ -n "${tts_args}" ] && log "  latent TTS: ${tts_args}"
    log "  open http://127.0.0.1:${demo_port} in a browser (Ctrl-C stops the demo)"
    # shellcheck disable=SC2086
    ${python} -m espnet_plugin.bin.demo ${exp_args} ${tts_args} ${examples} \
        --host 127.0.0.1 --port "${demo_port}" --share false --device "${_device:-cpu}"
}
