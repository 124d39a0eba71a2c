#!/usr/bin/env bash
# Speech-VAE recipe driver (ESPnet egs2 style): data -> teacher -> VAE -> resynthesis/scores ->
# latents -> latent TTS -> ASR probe -> comparison summary -> demo.
# Recipes link to this file: egs2/<corpus>/svae1/svae.sh -> ../../TEMPLATE/svae1/svae.sh
# The whole script is one { ... } block: bash parses it completely before running it, so editing
# this file while a long run executes it cannot change what that run does next.
{
set -e
set -u
set -o pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
min() { local a="$1" b="$2"; [ "$a" -lt "$b" ] && echo "$a" || echo "$b"; }
SECONDS=0

# General configuration
stage=1                 # Processes starts from the specified stage.
stop_stage=10000        # Processes is stopped at the specified stage.
skip_data_prep=false    # Skip data preparation stages (1-3).
skip_train=false        # Skip training stages.
skip_eval=false         # Skip decoding and evaluation stages.
ngpu=1                  # The number of gpus ("0" uses cpu, otherwise use gpu).
num_nodes=1             # The number of nodes.
nj=4                    # The number of parallel jobs (format, teacher dump).
inference_nj=4          # The number of parallel jobs in decoding / latent extraction.
gpu_inference=false     # Whether to perform gpu decoding.
datadir=data            # Directory of the Kaldi data dirs written by local/data.sh.
dumpdir=dump            # Directory to dump features.
expdir=exp              # Directory to save experiments.
python=python3          # Specify python to execute espnet commands.

# Data related
local_data_opts=""      # Options to be passed to local/data.sh.
fs=16000                # Sampling rate of the model (audio is resampled to it, mono).
min_wav_duration=0.5    # Minimum duration in second.
max_wav_duration=20     # Maximum duration in second.
skip_bad_utts=false     # Batch jobs (teacher dump, resynthesis, latents, TTS synthesis, scoring) skip an utterance with bad audio and list it in <out>/bad_utts.tsv (false: stop on it).

# Teacher related
teacher=wavlm_large     # s3prl upstream name, or "hubert_tiny": pretrain one offline (ESPnet HuBERT task).
teacher_path=""         # Local checkpoint for *_local upstreams.
teacher_layer=23        # Hidden-state index (-1 = last).
teacher_config=conf/teacher/hubert_tiny_cpu.yaml  # HuBERT pretraining config (teacher=hubert_tiny).
teacher_clusters=32     # k-means clusters of the MFCC targets (teacher=hubert_tiny).
teacher_cache=true      # Dump teacher features once and train from the cache (else on the fly).
teacher_extra_layers="" # More teacher layers to dump (feats_l<L>.scp), for terms that name a layer, e.g. "12".

# VAE related
svae_config=""          # Config for the speech VAE training.
svae_configs=""         # Several configs ([<scale>/]<loss> names: conf/<scale>/base.yaml + the loss override, or paths): a sweep.
svae_args=""            # Arguments for svae training, e.g., "--max_epoch 10".
margin_grid=""          # JMAS margin sweep: "m1,m2 m1,m2 ..." adds one config per pair (from margin_base).
margin_base=jmas        # The JMAS config the margin sweep starts from (a name or path, as --svae_configs).
tag=""                  # Suffix of the experiment dir (default: the config's name).
svae_seeds=""           # Train every config once per seed, e.g. "1 2" (dirs svae_<name>_seed<k>; the summary averages them).
svae_jobs=1             # Configs (and seeds) trained and evaluated side by side (one process each; 2 suits 2 cores).
yield_nice=5            # CPU niceness of the jobs that need no teacher while the teacher stages run (--svae_jobs > 1).
tts_all_seeds=false     # With --svae_seeds: latent TTS for every seed (default: the first seed of each config only).
single_seed_configs=""  # With --svae_seeds: configs trained with the first seed only (e.g. a fixed-encoder mel baseline).
tts_margins=true        # Latent TTS for the margin sweep's configs (false: their generation and overall cells stay empty).
inference_model=valid.mrstft_loss.ave.pth  # Model file used for resynthesis and latents.
metrics="pesq,stoi,mel_distance,spk_sim,mos"  # Reconstruction metrics.
sim_judge=resemblyzer   # Speaker judge behind spk_sim (stages 9, 16, 22): resemblyzer (embedded) or wavlm_large_sv (SIM-o, F5-TTS).
mos_judge=distillmos    # MOS judge behind mos (stages 9, 16, 22): distillmos (embedded) or utmos22_strong (UTMOS).
judge_weights=""        # Where the judges' weights are, for every scorer, e.g. "--sv_checkpoint /ckpt/wavlm_large_finetune.pth --utmos_dir /src/SpeechMOS" (or the ESPNET_PLUGIN_* env vars).
eval_max_utts=0         # Resynthesise and score only the first N test utterances (0 = all).

# Latent TTS (stages 12-16)
tts_config=conf/tts/train_f5_small.yaml   # Config of the latent TTS.
tts_args=""             # Extra arguments for TTS training.
tts_inference_args=""   # Extra arguments for TTS inference (e.g. "--nfe 16 --cfg_strength 2").
tts_inference_model=valid.loss.ave.pth  # TTS checkpoint used for synthesis (stage 15).
tts_max_pairs=0         # Zero-shot test pairs to synthesise (0 = every test utterance).
tts_asr_judge=pocketsphinx  # ASR judge of the generated speech: probe (the Fbank probe of stages 17-21), pocketsphinx, whisper_large_v3.

# ASR / speaker-id probing (stages 17-21)
probe_config=conf/probe/train_probe_superb.yaml   # Config of the ASR probe (SUPERB downstream).
probe_args=""           # Extra arguments for probe training.
probe_train_set=""      # Probe training set (default: --train_set).
probe_valid_set=""      # Probe validation set (default: --valid_set).
probe_test_set=""       # Probe test set (default: the first of --test_sets).
tts_test_set=""         # Zero-shot TTS test set, one of --test_sets (default: the first; the paper: LibriSpeech-PC test-clean).
probe_baselines="fbank" # Probes independent of the VAE: fbank (ESPnet default frontend), teacher, judge.
probe_judge=fbank       # The probe baseline that transcribes generated speech (--tts_asr_judge probe): fbank or judge.
judge_config=conf/probe/train_judge_cpu.yaml  # Config of the "judge" baseline (Fbank + SpecAugment, longer).
judge_args=""           # Extra arguments for the judge's training.
probe_feature=latent    # What the svae_latent frontend gives the probe: latent | weighted_layers (tag <cfg>_layers).
probe_input=auto        # frontend (frozen VAE run on the fly) | latents (stage-10 ark) | auto (latents on CPU when extracted).
probe_inference_model=valid.cer_ctc.best.pth  # Probe checkpoint decoded: the best dev-CER epoch, SUPERB's pick (needs best_model_criterion [valid, cer_ctc, min] in the probe config).
probe_decode_modes="greedy beam"  # CTC decodings of the probe (conf/probe/decode_ctc_<mode>.yaml).
probe_sid_heldout=0.2   # Held-out share of each training speaker's utterances for the speaker-id probe.
token_type=char         # char or bpe (sentencepiece) for the TTS and probe token lists.
nbpe=100                # BPE vocabulary size when token_type=bpe.

# Summary (stage 22) and demo (stage 23)
summary_dir=""          # Default: ${expdir}/summary
summary_baseline_recon=mel_vocoder  # Row serving as the reconstruction baseline (Mel + vocoder).
summary_baseline_und=fbank          # Row serving as the understanding baseline (Fbank probe).
summary_baseline_gen=mel_vocoder    # Row serving as the generation baseline (Mel + F5-TTS).
summary_reference=vanilla           # Row every config is compared with (paired bootstrap, per axis).
summary_note=""         # One line shown above the summary table (e.g. "smoke run: differences mean nothing").
demo=false              # Start the Gradio demo after the summary (it serves until Ctrl-C); --stage 23 starts it too.
demo_port=7860          # Port of the Gradio demo (binds 127.0.0.1).

# Packing and upload (stage 24; the VAE's pack is written by stage 11)
skip_upload_hf=true     # Skip uploading the packs to the Hugging Face hub (false: pack + upload, needs --hf_repo).
hf_repo=""              # Hugging Face repo prefix, e.g. owner/svae_libritts: one repo per pack, <hf_repo>-<exp name>.

# [Task dependent] Set the datadir name created by local/data.sh
train_set=""            # Name of training set.
valid_set=""            # Name of validation set.
test_sets=""            # Names of test sets (resynthesis + scoring on the first one).

# --help lists every option of the block above, read from this file: name, comment, default
# (one name twice in the block: its comments joined)
_svae_options_help() {
    local name comment
    while IFS=$'\t' read -r name comment; do
        printf '    --%-24s # %s (default="%s")\n' "${name}" "${comment}" "${!name}"
    done < <(awk '/^# General configuration/ { on = 1 } /^help_message=/ { on = 0 }
        on && match($0, /^[A-Za-z_][A-Za-z0-9_]*=/) {
            name = substr($0, 1, RLENGTH - 1); c = ""
            if (match($0, /[ \t]+# /)) c = substr($0, RSTART + RLENGTH)
            if (!(name in text)) { order[n++] = name; text[name] = c } else text[name] = text[name] "; also: " c }
        END { for (i = 0; i < n; i++) print order[i] "\t" text[order[i]] }' "$(readlink -f "${BASH_SOURCE[0]}")")
}
help_message=$(cat << EOF
Usage: $0 --train-set "<train_set_name>" --valid-set "<valid_set_name>" --test_sets "<test_set_names>"

Stages (a progress line is printed for each):
   1: data preparation (local/data.sh -> data/<set>/{wav.scp,text,utt2spk,spk2utt})
   2: format: resample to \${fs} Hz mono and dump (dump/raw/org/<set>)
   3: filter too-short / too-long utterances (dump/raw/<set>)
   4: get the teacher (s3prl upstream, or pretrain a small HuBERT with ESPnet: --teacher hubert_tiny)
   5: dump teacher features (dump/teacher/<teacher>/<set>, --nj parallel jobs)
   6: collect stats (shape files) with ESPnet
   7: train the VAE (exp/svae_<tag>) with ESPnet's GANTrainer
   8: resynthesise the test set
   9: score reconstruction (PESQ, STOI, mel distance, speaker similarity, MOS estimate)
  10: extract latents for every set (kaldiio ark/scp)
  11: pack the trained model (config + weights + checksum + model card; + ESPnet-style zip with meta.yaml)
  12-16: latent TTS (see the TTS part), 17-21: ASR probing, 22: summary, 23: demo
  24: pack the latent TTS and probes (zip + meta.yaml), upload every pack (--skip_upload_hf false --hf_repo ...)

Options (every name=value of the option block of svae.sh, with its default):
$(_svae_options_help)
EOF
)

log "$0 $*"
svae_cmdline=$(printf '%q ' "$0" "$@")   # this very command, for the run.sh of each exp dir
. ./utils/parse_options.sh

if [ $# -ne 0 ]; then
    log "${help_message}"
    log "Error: No positional arguments are required."
    exit 2
fi

. ./path.sh
. ./cmd.sh

[ -z "${train_set}" ] && { log "${help_message}"; log "Error: --train_set is required"; exit 2; }
[ -z "${valid_set}" ] && { log "Error: --valid_set is required"; exit 2; }
[ -z "${test_sets}" ] && { log "Error: --test_sets is required"; exit 2; }
test_set=${test_sets%% *}
tts_test_set=${tts_test_set:-${test_set}}
if [[ " ${test_sets} " != *" ${tts_test_set} "* ]]; then
    log "Error: --tts_test_set ${tts_test_set} is not one of --test_sets '${test_sets}' (those are the sets stages 2-3 prepare)"; exit 1
fi
# decode dirs are named after the model file they decode with: decode_<model tag>_<test set>,
# e.g. decode_valid.mrstft_loss.ave_test (another --inference_model decodes into its own dir)
inference_tag=$(basename "${inference_model}" .pth)

# resolve_config <spec>: the path of the full config ESPnet gets. A spec is [<scale>/]<loss> (scale
# tuning by default): conf/<scale>/base.yaml merged with conf/<scale>/<loss>.yaml or else
# conf/losses/<loss>.yaml, written to ${expdir}/configs/<scale>/train_svae_<loss>.yaml; or a path:
# an override beside a base.yaml is merged the same way, any other YAML is a full config used as is
# (espnet_plugin/config_merge.py: the one merge rule, also behind the margin sweep)
resolve_config() {
    ${python} -m espnet_plugin.bin.merge_config --resolve "$1" --out_dir "${expdir}/configs" \
        || { log "Error: no config for '$1'" >&2; return 1; }
}
configs=()
if [ -n "${svae_config}" ]; then         # one explicit config wins over the default sweep
    configs+=("$(resolve_config "${svae_config}")")
elif [ -n "${svae_configs}" ]; then
    for c in ${svae_configs}; do configs+=("$(resolve_config "${c}")"); done
else
    log "Error: give --svae_config or --svae_configs"; exit 2
fi
single_configs=" "  # configs trained with the first seed only: --single_seed_configs and the margin sweep's
for c in ${single_seed_configs}; do single_configs+="$(resolve_config "${c}") "; done
margin_configs=" "
if [ -n "${margin_grid}" ]; then
    while read -r c; do configs+=("${c}"); margin_configs+="${c} "; single_configs+="${c} "; done < <(${python} -m espnet_plugin.bin.make_margin_configs \
        --base "$(resolve_config "${margin_base}")" --grid "${margin_grid}" --out_dir ${expdir}/margin_configs)
fi
for c in "${configs[@]}"; do [ -f "${c}" ] || { log "Error: config not found: ${c}"; exit 2; }; done

if [ "${teacher}" = hubert_tiny ]; then
    teacher_tag=hubert_tiny
else
    teacher_tag=${teacher}_l${teacher_layer}
fi
teacher_dir=${expdir}/teacher/${teacher_tag}
teacher_dump=${dumpdir}/teacher/${teacher_tag}
stats_dir=${expdir}/svae_stats_${fs}

# ---- idempotency: a stage writes a marker holding the hash of what it was made from ----
# file_key <x>: the line hash_of hashes for <x> (sha256sum of a file, else the string itself);
# hash_of "$(file_key f)" = hash_of f, so a big file used in many keys is read once
file_key() { if [ -f "$1" ]; then sha256sum "$1"; else echo "$1"; fi; }
hash_of() { { for x in "$@"; do file_key "$x"; done; } | sha256sum | cut -c1-16; }
is_done() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
mark_done() { echo "$2" > "$1.tmp" && mv "$1.tmp" "$1"; }
# merge_job_scps <dir>/<name> <nj>: the <name>.<job>.scp lists of <nj> parallel jobs -> <name>.scp
# (sorted, written atomically); one job writes <name>.scp itself
merge_job_scps() {
    [ "$2" -gt 1 ] || return 0
    cat "$1".[0-9]*.scp | sort > "$1.scp.tmp" && mv "$1.scp.tmp" "$1.scp" && rm -f "$1".[0-9]*.scp
}
# drop_bad_utts <dir> <list>: remove from <list> the utterances a job skipped (listed in <dir>/bad_utts*.tsv)
drop_bad_utts() {
    compgen -G "$1/bad_utts*.tsv" > /dev/null || return 0
    awk 'NR == FNR { if ($1 != "utt_id") bad[$1] = 1; next } !($1 in bad)' \
        <(cat "$1"/bad_utts*.tsv) "$2" > "$2.tmp" && mv "$2.tmp" "$2"
    log "  skipped (bad audio): $(grep -vc '^utt_id' <(cat "$1"/bad_utts*.tsv)) utterances, see $1/bad_utts*.tsv"
}
elapsed() { printf '%d:%02d' $((SECONDS / 60)) $((SECONDS % 60)); }   # minutes:seconds (past an hour too)
# split_list <list> <n> <dir>: <dir>/<name>.1.<ext> ... <dir>/<name>.<n>.<ext>, the n contiguous,
# nearly equal parts of <list> (utils/split_scp.pl, as Kaldi and ESPnet split their jobs' lists)
split_list() {
    local name; name=$(basename "$1")
    local outs=() j
    mkdir -p "$3"
    for ((j = 1; j <= $2; j++)); do outs+=("$3/${name%.*}.${j}.${name##*.}"); done
    utils/split_scp.pl "$1" "${outs[@]}"
}
# write_exp_run_sh <exp dir> <stage>: <exp dir>/run.sh, as ESPnet writes one: the command line that
# made the experiment, resumed from <stage> (re-run from the recipe dir; more options may follow)
write_exp_run_sh() {
    mkdir -p "$1"
    {
        echo "#!/usr/bin/env bash"
        echo "# Written by svae.sh on $(date '+%Y-%m-%dT%H:%M:%S'): the command that made $1,"
        echo "# resumed from stage $2. Run it from the recipe dir $(pwd):"
        echo "#   $1/run.sh [--stage N] [more svae.sh options]"
        echo "[ -f ./svae.sh ] || { echo \"\$0: run me from the recipe dir (where svae.sh is)\" >&2; exit 1; }"
        echo "${svae_cmdline}--stage $2 \"\$@\"; exit \$?"
    } > "$1/run.sh.tmp" && chmod +x "$1/run.sh.tmp" && mv "$1/run.sh.tmp" "$1/run.sh"
}
stage_msg() { log "== Stage $1/23: $2 [$(elapsed) elapsed]"; }

if "${gpu_inference}"; then _device=cuda; _icmd=${cuda_cmd}; _ngpu_inf=1; else _device=cpu; _icmd=${decode_cmd}; _ngpu_inf=0; fi

teacher_args() {
    # --teacher_conf overrides of the VAE config, pointing at this recipe's teacher
    if [ "${teacher}" = hubert_tiny ]; then
        echo "--teacher_conf upstream=espnet_hubert_local --teacher_conf path=${teacher_dir}/valid.loss.best.pth --teacher_conf layer=${teacher_layer}"
    else
        echo "--teacher_conf upstream=${teacher} --teacher_conf layer=${teacher_layer}${teacher_path:+ --teacher_conf path=${teacher_path}}"
    fi
}
teacher_file() {
    # the teacher's checkpoint file (empty: an s3prl upstream without --teacher_path)
    if [ "${teacher}" = hubert_tiny ]; then echo "${teacher_dir}/valid.loss.best.pth"; else echo "${teacher_path}"; fi
}
teacher_dump_args() {
    if [ "${teacher}" = hubert_tiny ]; then
        echo "--upstream espnet_hubert_local --path ${teacher_dir}/valid.loss.best.pth --layer ${teacher_layer}${teacher_extra_layers:+ --extra_layers ${teacher_extra_layers}}"
    else
        echo "--upstream ${teacher} --layer ${teacher_layer}${teacher_path:+ --path ${teacher_path}}${teacher_extra_layers:+ --extra_layers ${teacher_extra_layers}}"
    fi
}

# Later parts of the recipe live in stages/*.sh beside this file; each defines functions
# (run_tts_stages, score_generation, run_probe_stages, run_probe_baselines, run_summary_stage,
# run_demo_stage) that see this script's options and helpers (log, stage_msg, hash_of, is_done, ...);
# a run's own inputs (its VAE's tag, exp dir, weights) are named arguments (named_args, stages/common.sh).
_template_dir=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
for _f in "${_template_dir}"/stages/*.sh; do
    # shellcheck disable=SC1090
    . "${_f}"
done

# ============================================================== shared stages
if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ] && ! "${skip_data_prep}"; then
    stage_msg 1 "Data preparation (local/data.sh ${local_data_opts})"
    local/data.sh ${local_data_opts}
    # every set the next stages read: sorted, unique ids, each utterance in wav.scp, text and utt2spk
    _sets=$(printf '%s\n' ${train_set} ${valid_set} ${test_sets} | sort -u)
    for dset in ${_sets}; do
        utils/validate_data_dir.sh --no-feats --non-print ${datadir}/${dset} || {
            log "Error: local/data.sh wrote a bad data dir ${datadir}/${dset} (see above; utils/fix_data_dir.sh ${datadir}/${dset} repairs sorting and missing utterances)"
            exit 1; }
    done
    # every utterance missing from wav.scp, text or utt2spk, all named at once
    ${python} -m espnet_plugin.bin.check_data_dir \
        $(for dset in ${_sets}; do echo --data_dir ${datadir}/${dset}; done)
fi

if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ] && ! "${skip_data_prep}"; then
    stage_msg 2 "Format: resample to ${fs} Hz mono, dump to ${dumpdir}/raw/org"
    for dset in ${train_set} ${valid_set} ${test_sets}; do
        out=${dumpdir}/raw/org/${dset}
        key=$(hash_of ${datadir}/${dset}/wav.scp ${datadir}/${dset}/text ${datadir}/${dset}/utt2spk "${fs}")
        if is_done ${out}/.done "${key}"; then log "  ${dset}: up to date"; continue; fi
        ${train_cmd} ${out}/logs/format.log ${python} -m espnet_plugin.bin.format_data \
            --in_dir ${datadir}/${dset} --out_dir ${out} --fs ${fs} --nj ${nj} --on_error skip \
            --min_seconds 0 --max_seconds 100000
        mark_done ${out}/.done "${key}"
        log "  ${dset}: $(wc -l < ${out}/wav.scp) utterances (log: ${out}/logs/format.log)"
    done
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ] && ! "${skip_data_prep}"; then
    stage_msg 3 "Filter utterances outside ${min_wav_duration}-${max_wav_duration} s"
    for dset in ${train_set} ${valid_set} ${test_sets}; do
        out=${dumpdir}/raw/${dset}
        key=$(hash_of ${dumpdir}/raw/org/${dset}/wav.scp ${dumpdir}/raw/org/${dset}/utt2num_samples "${min_wav_duration}" "${max_wav_duration}")
        if is_done ${out}/.done "${key}"; then log "  ${dset}: up to date"; continue; fi
        ${python} -m espnet_plugin.bin.filter_data --in_dir ${dumpdir}/raw/org/${dset} --out_dir ${out} \
            --min_seconds ${min_wav_duration} --max_seconds ${max_wav_duration} --fs ${fs}
        mark_done ${out}/.done "${key}"
    done
fi

# Stages 4-5 (the teacher) run in the background while stage 6, the shared token lists of stages 12
# and 17 and the runs that do not need the teacher go on; a job that needs it calls wait_teacher,
# which waits for ${teacher_rc} (the exit status of stages 4-5).
teacher_rc=$(mktemp -u "${TMPDIR:-/tmp}/svae_teacher_rc.XXXXXX")   # run state, not a product
wait_teacher() {
    while [ ! -f ${teacher_rc} ]; do sleep 1; done
    [ "$(cat ${teacher_rc})" = 0 ] || { log "Error: the teacher stages (4-5) failed (see above)"; return 1; }
    [ "${BASHPID}" = "$$" ] || teacher_done_equal_share   # a job (subshell): see yield_to_teacher
}
(   # (not in an || list: that would switch set -e off inside; the EXIT trap records the status)
trap 'echo $? > ${teacher_rc}.tmp && mv ${teacher_rc}.tmp ${teacher_rc}' EXIT
if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ]; then
    stage_msg 4 "Teacher: ${teacher_tag}"
    if [ "${teacher}" = hubert_tiny ]; then
        key=$(hash_of ${dumpdir}/raw/${train_set}/wav.scp ${dumpdir}/raw/${valid_set}/wav.scp ${teacher_config} "${teacher_clusters}")
        if is_done ${teacher_dir}/.done "${key}"; then
            log "  teacher up to date: ${teacher_dir}/valid.loss.best.pth"
        else
            if [ -f ${teacher_dir}/.done ]; then log "  data or teacher config changed since the last pretraining: retraining ${teacher_dir}"; rm -rf ${teacher_dir}; fi
            log "  MFCC k-means targets (${teacher_clusters} clusters) -> ${dumpdir}/hubert_labels"
            ${train_cmd} ${teacher_dir}/logs/labels.log ${python} -m espnet_plugin.bin.hubert_labels \
                --wav_scp ${dumpdir}/raw/${train_set}/wav.scp --km_path ${teacher_dir}/km.npy \
                --output_dir ${dumpdir}/hubert_labels/${train_set} --n_clusters ${teacher_clusters}
            ${train_cmd} ${teacher_dir}/logs/labels_valid.log ${python} -m espnet_plugin.bin.hubert_labels \
                --wav_scp ${dumpdir}/raw/${valid_set}/wav.scp --km_path ${teacher_dir}/km.npy \
                --output_dir ${dumpdir}/hubert_labels/${valid_set}
            log "  pretraining HuBERT with ESPnet (log: ${teacher_dir}/train.log)"
            ${cuda_cmd} --gpu $(min ${ngpu} 1) ${teacher_dir}/train.log ${python} -m espnet_plugin.bin.espnet espnet2.bin.hubert_train \
                --config ${teacher_config} --output_dir ${teacher_dir} --ngpu $(min ${ngpu} 1) --resume true \
                --num_classes ${teacher_clusters} \
                --token_list ${dumpdir}/hubert_labels/${train_set}/token_list \
                --train_data_path_and_name_and_type ${dumpdir}/raw/${train_set}/wav.scp,speech,sound \
                --train_data_path_and_name_and_type ${dumpdir}/hubert_labels/${train_set}/text,text,text \
                --valid_data_path_and_name_and_type ${dumpdir}/raw/${valid_set}/wav.scp,speech,sound \
                --valid_data_path_and_name_and_type ${dumpdir}/hubert_labels/${valid_set}/text,text,text \
                --train_shape_file ${dumpdir}/raw/${train_set}/utt2num_samples \
                --valid_shape_file ${dumpdir}/raw/${valid_set}/utt2num_samples
            mark_done ${teacher_dir}/.done "${key}"
        fi
    else
        log "  s3prl upstream '${teacher}' layer ${teacher_layer} (loaded by s3prl when first used${teacher_path:+, from ${teacher_path}})"
    fi
fi

if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ] && "${teacher_cache}"; then
    stage_msg 5 "Dump teacher features (${teacher_tag}) with ${nj} jobs"
    _tfile=$(teacher_file)
    for dset in ${train_set} ${valid_set}; do
        out=${teacher_dump}/${dset}
        key=$(hash_of ${dumpdir}/raw/${dset}/wav.scp "${teacher}" "${teacher_layer}" ${_tfile} ${teacher_extra_layers:+"extra=${teacher_extra_layers}"})
        if is_done ${out}/.done "${key}"; then log "  ${dset}: cache up to date (${out})"; continue; fi
        [ -f ${out}/.done ] && log "  ${dset}: teacher or data changed: recomputing the stale cache ${out}"
        rm -f ${out}/feats*.scp ${out}/feats*.ark ${out}/teacher_info.json ${out}/bad_utts*.tsv
        _nj=$(min ${nj} $(wc -l < ${dumpdir}/raw/${dset}/wav.scp))
        split_list ${dumpdir}/raw/${dset}/wav.scp ${_nj} ${out}/logs/keys
        ${_icmd} --gpu ${_ngpu_inf} JOB=1:${_nj} ${out}/logs/dump.JOB.log ${python} -m espnet_plugin.bin.dump_teacher \
            --wav_scp ${dumpdir}/raw/${dset}/wav.scp --output_dir ${out} $(teacher_dump_args) \
            --device ${_device} --num_jobs ${_nj} --job_index JOB --key_file ${out}/logs/keys/wav.JOB.scp \
            --skip_bad_utts ${skip_bad_utts}
        # one job writes feats.scp itself; N jobs are merged (checking they used the same teacher)
        [ "${_nj}" -le 1 ] || ${python} -m espnet_plugin.bin.dump_teacher --output_dir ${out} --merge ${_nj}
        mark_done ${out}/.done "${key}"
        log "  ${dset}: $(wc -l < ${out}/feats.scp) utterances -> ${out}/feats.scp"
    done
fi

) &
teacher_pid=$!

if [ ${stage} -le 6 ] && [ ${stop_stage} -ge 6 ] && ! "${skip_train}"; then
    stage_msg 6 "Collect stats (shape files) -> ${stats_dir}"
    key=$(hash_of ${dumpdir}/raw/${train_set}/wav.scp ${dumpdir}/raw/${valid_set}/wav.scp)
    if is_done ${stats_dir}/.done "${key}"; then
        log "  up to date"
    else
        # Shapes do not depend on the VAE config: collect them once with the vanilla VAE.
        ${train_cmd} ${stats_dir}/collect_stats.log ${python} -m espnet_plugin.bin.svae_train \
            --collect_stats true --use_preprocessor true --ngpu 0 --num_workers 0 \
            --config ${configs[0]} --distill_conf "{terms: []}" --batch_type unsorted --batch_size 1 \
            --train_data_path_and_name_and_type ${dumpdir}/raw/${train_set}/wav.scp,audio,sound \
            --valid_data_path_and_name_and_type ${dumpdir}/raw/${valid_set}/wav.scp,audio,sound \
            --train_shape_file ${dumpdir}/raw/${train_set}/wav.scp \
            --valid_shape_file ${dumpdir}/raw/${valid_set}/wav.scp \
            --output_dir ${stats_dir}
        mark_done ${stats_dir}/.done "${key}"
    fi
fi
# shared products of stages 12 and 17: the runs below only read them
if [ ${stage} -le 12 ] && [ ${stop_stage} -ge 12 ] && ! "${skip_train}"; then tts_token_list; fi
if [ ${stage} -le 17 ] && [ ${stop_stage} -ge 17 ] && ! "${skip_train}"; then probe_token_list; fi


# ============================================================== per-config stages
# config_vars <config> <seed>: the names every per-config stage uses (svae_tag, svae_exp, run_args,
# first_seed; model_file and model_key once trained)
config_vars() {
    local cname
    cname=$(basename "$1" .yaml); cname=${cname#train_svae_}; cname=${cname#train_}
    svae_tag=${tag:-${cname}}
    [ -n "${tag}" ] && [ ${#configs[@]} -gt 1 ] && svae_tag=${cname}_${tag}
    run_args=${svae_args}
    first_seed=true
    if [ -n "$2" ]; then
        svae_tag=${svae_tag}_seed$2
        run_args="${svae_args} --seed $2"
        [ "$2" = "${svae_seeds%% *}" ] || first_seed=false
    fi
    svae_exp=${expdir}/svae_${svae_tag}
    model_file=${svae_exp}/${inference_model}
}

# wants_tts <config>: whether this (config, seed) gets the latent TTS (after config_vars)
wants_tts() {
    { "${first_seed}" || "${tts_all_seeds}"; } && { "${tts_margins}" || [[ "${margin_configs}" != *" $1 "* ]]; }
}

run_config() {
    local svae_config=$1
    config_vars "$1" "${2:-}"
    local n_terms
    n_terms=$(${python} -m espnet_plugin.bin.config_query ${svae_config} distill_conf.terms --len)
    log "---- config ${svae_config} -> ${svae_exp} (${n_terms} alignment terms)"
    [ "${n_terms}" -gt 0 ] || yield_to_teacher

    if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ] && ! "${skip_train}"; then
        [ "${n_terms}" -eq 0 ] || wait_teacher   # its targets come from the teacher
        stage_msg 7 "Train the VAE ${svae_tag} (log: ${svae_exp}/train.log)"
        local data_args="--train_data_path_and_name_and_type ${dumpdir}/raw/${train_set}/wav.scp,audio,sound \
            --valid_data_path_and_name_and_type ${dumpdir}/raw/${valid_set}/wav.scp,audio,sound"
        local tdeps=""   # what the teacher targets are made from
        if [ "${n_terms}" -gt 0 ] && "${teacher_cache}"; then
            data_args+=" --train_data_path_and_name_and_type ${teacher_dump}/${train_set}/feats.scp,teacher_feats,kaldi_ark"
            data_args+=" --valid_data_path_and_name_and_type ${teacher_dump}/${valid_set}/feats.scp,teacher_feats,kaldi_ark"
            # feats.scp holds only keys and ark offsets, the same for a re-dumped cache: its stage-5
            # marker (data + teacher checkpoint) says which features are in the arks
            tdeps="${teacher_dump}/${train_set}/feats.scp ${teacher_dump}/${train_set}/.done"
        elif [ "${n_terms}" -gt 0 ]; then
            tdeps=$(teacher_file)   # the teacher runs on the fly: its checkpoint
        fi
        local key
        key=$(hash_of ${svae_config} "${run_args}" "$(teacher_args)" ${dumpdir}/raw/${train_set}/wav.scp ${tdeps})
        if is_done ${svae_exp}/.done_train "${key}"; then
            log "  already trained: ${svae_exp} (remove ${svae_exp}/.done_train to retrain)"
        else
            if [ -f ${svae_exp}/.key_train ] && [ "$(cat ${svae_exp}/.key_train)" != "${key}" ]; then
                log "Error: ${svae_exp} holds a model trained from other inputs (config, args, teacher or data changed)."
                log "       Use another --tag, or remove ${svae_exp} to retrain from scratch."
                exit 1
            fi
            mkdir -p ${svae_exp}; echo "${key}" > ${svae_exp}/.key_train
            write_exp_run_sh ${svae_exp} 7
            # shellcheck disable=SC2046,SC2086
            ${python} -m espnet2.bin.launch \
                --cmd "${cuda_cmd} --name ${svae_exp}/train.log" --log ${svae_exp}/train.log \
                --ngpu ${ngpu} --num_nodes ${num_nodes} --init_file_prefix ${svae_exp}/.dist_init_ \
                --multiprocessing_distributed true -- \
                ${python} -m espnet_plugin.bin.svae_train --use_preprocessor true --resume true \
                --config ${svae_config} --fs ${fs} $(teacher_args) ${data_args} \
                --train_shape_file ${stats_dir}/train/audio_shape --valid_shape_file ${stats_dir}/valid/audio_shape \
                --output_dir ${svae_exp} ${run_args}
            mark_done ${svae_exp}/.done_train "${key}"
        fi
    fi

    # hashed once here (after training) for the keys of stages 8-21: hash_of "${model_key}" = hash_of ${model_file}
    model_key=$(file_key ${model_file})
    local dec=${svae_exp}/decode_${inference_tag}_${test_set}
    if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ] && ! "${skip_eval}"; then
        stage_msg 8 "Resynthesise ${test_set} with ${svae_tag} (${inference_nj} jobs)"
        local key; key=$(hash_of "${model_key}" ${dumpdir}/raw/${test_set}/wav.scp "${eval_max_utts}")
        if is_done ${dec}/.done "${key}"; then log "  up to date: ${dec}"; else
            mkdir -p ${dec}; rm -f ${dec}/bad_utts*.tsv
            if [ "${eval_max_utts}" -gt 0 ]; then
                # every k-th utterance, so that every test speaker is represented
                local _n; _n=$(wc -l < ${dumpdir}/raw/${test_set}/wav.scp)
                awk -v step=$(( (_n + eval_max_utts - 1) / eval_max_utts )) '(NR - 1) % step == 0' \
                    ${dumpdir}/raw/${test_set}/wav.scp > ${dec}/ref_wav.scp
            else
                cp ${dumpdir}/raw/${test_set}/wav.scp ${dec}/ref_wav.scp
            fi
            local _nj; _nj=$(min ${inference_nj} $(wc -l < ${dec}/ref_wav.scp))
            split_list ${dec}/ref_wav.scp ${_nj} ${dec}/logs/keys
            ${_icmd} --gpu ${_ngpu_inf} JOB=1:${_nj} ${dec}/logs/inference.JOB.log ${python} -m espnet_plugin.bin.svae_inference \
                --config ${svae_exp}/config.yaml --model_file ${model_file} --wav_scp ${dec}/ref_wav.scp \
                --key_file ${dec}/logs/keys/ref_wav.JOB.scp \
                --output_dir ${dec} --write_latents false --device ${_device} --num_jobs ${_nj} --job_index JOB \
                --skip_bad_utts ${skip_bad_utts}
            merge_job_scps ${dec}/wav ${_nj}
            drop_bad_utts ${dec} ${dec}/ref_wav.scp   # skipped ones are not scored as failed resyntheses
            mark_done ${dec}/.done "${key}"
            log "  $(wc -l < ${dec}/wav.scp) resyntheses in ${dec}/wav"
        fi
    fi

    if [ ${stage} -le 9 ] && [ ${stop_stage} -ge 9 ] && ! "${skip_eval}"; then
        stage_msg 9 "Score reconstruction of ${svae_tag} (${metrics})"
        # a JMAS config records its (m1, m2): the summary's margin plot places it in the sweep's grid
        local margins; margins=$(${python} -m espnet_plugin.bin.make_margin_configs --margins_of ${svae_config})
        local key; key=$(hash_of ${dec}/wav.scp ${dec}/.done "${metrics}" "${margins}" "${sim_judge} ${mos_judge}")
        if is_done ${dec}/scores/.done "${key}"; then log "  up to date: ${dec}/scores/metrics.json"; else
            ${decode_cmd} ${dec}/scores/score.log ${python} -m espnet_plugin.bin.score_recon \
                --ref_scp ${dec}/ref_wav.scp --hyp_dir ${dec}/wav --out_dir ${dec}/scores \
                --metrics ${metrics} --tag ${svae_tag} ${margins:+--margins ${margins}} \
                --sim_judge ${sim_judge} --mos_judge ${mos_judge} ${judge_weights} --skip_bad_utts ${skip_bad_utts}
            mark_done ${dec}/scores/.done "${key}"
        fi
        log "  $(tr -d '\n' < ${dec}/scores/metrics.json | cut -c1-300)"
    fi

    if [ ${stage} -le 10 ] && [ ${stop_stage} -ge 10 ] && ! "${skip_eval}"; then
        stage_msg 10 "Extract latents of ${svae_tag} for every set"
        # one process (one model load) for all sets that are not up to date
        local todo_args="" todo_sets="" dset
        local -A set_key=()
        for dset in ${train_set} ${valid_set} ${test_sets}; do
            local out=${svae_exp}/latents/${dset}
            set_key[${dset}]=$(hash_of "${model_key}" ${dumpdir}/raw/${dset}/wav.scp)
            if is_done ${out}/.done "${set_key[${dset}]}"; then log "  ${dset}: up to date"; continue; fi
            rm -f ${out}/.done ${out}/bad_utts*.tsv
            todo_args+=" --wav_scp ${dumpdir}/raw/${dset}/wav.scp --output_dir ${out} --key_file ${out}/logs/keys/wav.JOB.scp"
            todo_sets+=" ${dset}"
        done
        if [ -n "${todo_sets}" ]; then
            local _nj=${inference_nj}
            for dset in ${todo_sets}; do _nj=$(min ${_nj} $(wc -l < ${dumpdir}/raw/${dset}/wav.scp)); done
            for dset in ${todo_sets}; do split_list ${dumpdir}/raw/${dset}/wav.scp ${_nj} ${svae_exp}/latents/${dset}/logs/keys; done
            # shellcheck disable=SC2086
            ${_icmd} --gpu ${_ngpu_inf} JOB=1:${_nj} ${svae_exp}/latents/logs/extract.JOB.log ${python} -m espnet_plugin.bin.svae_inference \
                --config ${svae_exp}/config.yaml --model_file ${model_file} ${todo_args} \
                --write_wav false --device ${_device} --num_jobs ${_nj} --job_index JOB --skip_bad_utts ${skip_bad_utts}
            for dset in ${todo_sets}; do
                local out=${svae_exp}/latents/${dset}
                merge_job_scps ${out}/latents ${_nj}
                mark_done ${out}/.done "${set_key[${dset}]}"
                log "  ${dset}: $(wc -l < ${out}/latents.scp) latent sequences -> ${out}/latents.scp"
            done
        fi
        # does the latent move in time? (a collapsed encoder repeats one frame: the summary shows it)
        local tl=${svae_exp}/latents/${test_set}
        if [ -f ${tl}/.done ] && { [ ! -f ${tl}/stats.json ] || [ ${tl}/.done -nt ${tl}/stats.json ]; }; then
            ${python} -m espnet_plugin.bin.latent_stats --scp ${tl}/latents.scp --out_json ${tl}/stats.json
        fi
    fi

    if [ ${stage} -le 11 ] && [ ${stop_stage} -ge 11 ] && ! "${skip_train}"; then
        # the packed dir (read by the demo) and the ESPnet-style zip (meta.yaml; uploaded by stage 24)
        local zip=${svae_exp}/${svae_exp##*/}_${inference_model%.*}.zip
        stage_msg 11 "Pack ${svae_tag} -> ${svae_exp}/packed, ${zip}"
        local key; key=$(hash_of "${model_key}" ${svae_exp}/config.yaml "zip")
        if is_done ${svae_exp}/packed/.done "${key}" && [ -f ${zip} ]; then log "  up to date"; else
            ${python} -m espnet_plugin.bin.pack_model --exp_dir ${svae_exp} --model_file ${model_file} \
                --out_dir ${svae_exp}/packed --recipe "$(pwd)" --train_set ${train_set} --outpath ${zip}
            mark_done ${svae_exp}/packed/.done "${key}"
        fi
    fi

    # stages 12-15 (latent TTS; 16 scores it once every probe judge exists) and 17-21 (probing) need
    # only the latents: side by side (a run's tail uses both cores once the other runs have ended)
    local tts_pid="" vae_opts=(--svae_tag ${svae_tag} --svae_exp ${svae_exp} --model_file ${model_file} --model_key "${model_key}")
    if wants_tts "${svae_config}"; then run_tts_stages "${vae_opts[@]}" & tts_pid=$!; fi
    run_probe_stages "${vae_opts[@]}"
    if [ -n "${tts_pid}" ] && ! wait ${tts_pid}; then
        log "Error: the latent TTS stages (12-15) of ${svae_tag} failed (see above)"; exit 1
    fi
}


# (config, seed) runs: one per config, or one per config and seed (--svae_seeds; a margin-sweep
# config and --single_seed_configs take the first seed only)
runs=()
for c in "${configs[@]}"; do
    if [ -z "${svae_seeds}" ]; then runs+=("${c}|")
    elif [[ "${single_configs}" == *" ${c} "* ]]; then runs+=("${c}|${svae_seeds%% *}")
    else for s in ${svae_seeds}; do runs+=("${c}|${s}"); done; fi
done

# Every run (7-15, 17-21), each probe baseline (17-21), each run's generation scoring (16) and the
# ground truth (22, first part) is a job of run_jobs (stages/jobs.sh): --svae_jobs at a time, each
# logging to ${expdir}/logs/<job>.log, each started once the jobs it names after "@" are done (runs
# first: put the slowest config first; a run's scoring starts when the run and the probe judge are
# done, filling the cores while slower runs still train).
# svae_job <spec>: run one job: "baseline:<name>", "gen:<config>|<seed>", ground_truth or "<config>|<seed>"
svae_job() {
    case "$1" in
        baseline:*) [ "${1#baseline:}" = teacher ] || yield_to_teacher
                    run_probe_baselines "${1#baseline:}" ;;
        gen:*) local r=${1#gen:}
               config_vars "${r%%|*}" "${r##*|}"; score_generation --svae_tag ${svae_tag} ;;
        ground_truth) score_ground_truth ;;
        *) run_config "${1%%|*}" "${1##*|}" ;;
    esac
}
# job_tag <spec>: the job's name (its log is ${expdir}/logs/<name>.log)
job_tag() {
    case "$1" in
        baseline:*) echo "probe_${1#baseline:}" ;;
        gen:*) local r=${1#gen:}; echo "gen_$(config_vars "${r%%|*}" "${r##*|}"; echo "${svae_tag}")" ;;
        ground_truth) echo ground_truth ;;
        *) (config_vars "${1%%|*}" "${1##*|}"; echo "${svae_tag}") ;;
    esac
}
# yield_to_teacher: a job that does not need the teacher, started while stages 4-5 still run, lowers
# its CPU priority (and its children's): the distilling runs wait for the teacher, so the teacher is
# the critical path on a machine with fewer cores than jobs. No effect with --svae_jobs 1.
# A job that waited for the teacher takes the same niceness once it is done (renice cannot lower it
# back without privileges), so from then on every job has an equal share.
yield_to_teacher() {
    if [ "${svae_jobs}" -gt 1 ] && [ ! -f "${teacher_rc}" ]; then
        renice -n "${yield_nice}" -p "${BASHPID}" >/dev/null 2>&1 && touch "${teacher_rc}.yielded" || true
    fi
}
teacher_done_equal_share() {
    if [ "${svae_jobs}" -gt 1 ] && [ -f "${teacher_rc}.yielded" ]; then
        renice -n "${yield_nice}" -p "${BASHPID}" >/dev/null 2>&1 || true
    fi
}
# the probe judge first: every generation scoring and the ground truth wait for it (last, it made a
# tail of judge -> scorings with one core idle), and it needs no teacher, which the first runs wait for
baseline_jobs=() judge_jobs=()
judge_dep=""
for b in ${probe_baselines}; do
    if [ "${b}" = "${probe_judge}" ]; then judge_dep=probe_${b}; judge_jobs+=("baseline:${b}")
    else baseline_jobs+=("baseline:${b}"); fi
done
# stage 16 of each run once the run and the probe judge exist, and the ground truth through the same
# judges once the judge and any run with a latent TTS exist
# (its audio lists are the same in every run: any one will do)
gen_jobs=()
gt_runs="" all_runs=""
for r in "${runs[@]}"; do
    config_vars "${r%%|*}" "${r##*|}"
    all_runs+=${all_runs:+/}${svae_tag}
    if wants_tts "${r%%|*}"; then
        gen_jobs+=("gen:${r}@${svae_tag} ${judge_dep}")
        gt_runs+=${gt_runs:+/}${svae_tag}
    fi
done
gt_runs=${gt_runs:-${all_runs}}
run_jobs svae_job job_tag "${judge_jobs[@]}" "${runs[@]}" "${baseline_jobs[@]}" "${gen_jobs[@]}" "ground_truth@${judge_dep} ${gt_runs}"
wait ${teacher_pid}; wait_teacher   # the teacher stages ended well, whoever used them
rm -f ${teacher_rc} ${teacher_rc}.yielded
run_summary_stage        # stage 22
run_upload_stage         # stage 24 (when asked; before the demo, which serves until Ctrl-C)
run_demo_stage           # stage 23

log "Successfully finished. [elapsed=${SECONDS}s]"
exit
}
