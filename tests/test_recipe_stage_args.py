"""The recipe's stage functions take their inputs as named arguments (stages/common.sh's named_args),
and one function makes the token lists of the TTS (stage 12) and of the probes (stage 17).

The stage files are sourced in isolation under svae.sh's shell options (set -euo pipefail) with
svae.sh's own one-line helpers; ``python`` and the job runner are stand-ins that record their calls.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

STAGES = Path(__file__).resolve().parents[1] / "egs2" / "TEMPLATE" / "svae1" / "stages"

PRELUDE = r"""
set -euo pipefail
log() { echo "LOG $*"; }
stage_msg() { log "== Stage $1/23: $2"; }
file_key() { if [ -f "$1" ]; then sha256sum "$1"; else echo "$1"; fi; }
hash_of() { { for x in "$@"; do file_key "$x"; done; } | sha256sum | cut -c1-16; }
is_done() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
mark_done() { echo "$2" > "$1.tmp" && mv "$1.tmp" "$1"; }
min() { local a="$1" b="$2"; [ "$a" -lt "$b" ] && echo "$a" || echo "$b"; }
python=./fake_python
train_cmd=./fake_cmd
expdir=exp dumpdir=dump train_set=tr valid_set=dv test_set=te tts_test_set=te fs=16000 token_type=char nbpe=7
probe_train_set="" probe_valid_set="" probe_test_set="" probe_baselines="fbank"
probe_config=conf/probe.yaml probe_args="" judge_config=conf/judge.yaml judge_args="--max_epoch 9"
teacher=hubert teacher_path="" teacher_tag=hub teacher_dump=dump/teacher teacher_dir=exp/teacher teacher_layer=3
probe_feature=latent probe_input=auto probe_decode_modes=greedy ngpu=0 stage=1 stop_stage=100 skip_train=false skip_eval=false
for f in STAGES/common.sh STAGES/probe.sh STAGES/tts.sh; do . "$f"; done
"""

FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "$*" >> calls.txt
mod=$2; shift 2
arg() { local want=$1; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "${mod}" in
    espnet_plugin.bin.espnet) printf '<blank>\n<unk>\na\nb\n<sos/eos>\n' > "$(arg --output "$@")" ;;
    espnet_plugin.bin.spm_train) touch "$(echo "$*" | sed 's/.*--model_prefix=\([^ ]*\).*/\1/').model" ;;
    espnet_plugin.bin.config_query) echo none ;;
    espnet_plugin.bin.feat_dim) echo 64 ;;
    espnet_plugin.bin.check_data_dir) ;;   # the data checks: tested in test_bin_check_data_dir
    espnet_plugin.bin.asr_probe_train)   # a training whose config tracks the dev loss (and the CER when FAKE_CER=1)
        out=$(arg --output_dir "$@"); mkdir -p "${out}"; touch "${out}/valid.loss.best.pth"
        [ -z "${FAKE_CER:-}" ] || touch "${out}/valid.cer_ctc.best.pth" ;;
    *) echo "fake python: unexpected ${mod}" >&2; exit 1 ;;
esac
"""


def _bash(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "fake_python").write_text(FAKE_PYTHON)
    (tmp_path / "fake_cmd").write_text('#!/usr/bin/env bash\nlog=$1; shift; mkdir -p "$(dirname "$log")"; "$@" > "$log" 2>&1\n')
    for f in ("fake_python", "fake_cmd"):
        (tmp_path / f).chmod(0o755)
    script = PRELUDE.replace("STAGES", str(STAGES)) + body
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_named_args_required_optional_repeatable(tmp_path):
    p = _bash(tmp_path, r"""
f() {
    local tag dir="d0"; local -a dep=()
    named_args f tag dir= dep+ -- "$@" || return 1
    echo "tag=${tag} dir=${dir} n=${#dep[@]}"; printf 'dep=%s\n' "${dep[@]}"
}
f --tag a --dep "x  y" --dep z
f --tag b --dir d1
f --dir d2 || echo "rc=$?"
f --tag a --bogus 1 || echo "rc=$?"
f --tag || echo "rc=$?"
""")
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[:4] == ["tag=a dir=d0 n=2", "dep=x  y", "dep=z", "tag=b dir=d1 n=0"]
    assert "f: --tag is required" in out[5] and out[6] == "rc=1"
    assert "f: unknown option '--bogus'" in out[7] and out[8] == "rc=1"
    assert "f: option --tag needs a value" in out[9] and out[10] == "rc=1"


def test_one_token_list_function_for_tts_and_probe(tmp_path):
    (tmp_path / "dump" / "raw" / "tr").mkdir(parents=True)
    (tmp_path / "dump" / "raw" / "tr" / "text").write_text("u1 ab\nu2 ba\n")
    p = _bash(tmp_path, "tts_token_list; probe_token_list; tts_token_list\n"
                        "token_type=bpe; tts_token_list; token_type=phn; probe_token_list || echo rc=$?\n")
    assert p.returncode == 0, p.stdout + p.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    tok = [c for c in calls if "tokenize_text" in c]
    assert len(tok) == 3  # tts char, probe char, tts bpe (the repeat is up to date)
    assert "--output exp/tts_tokens/char/tokens.txt.tmp" in tok[0]
    assert "--output exp/probe_tokens/char/tokens.txt.tmp" in tok[1]
    assert tok[0].replace("tts_tokens", "X") == tok[1].replace("probe_tokens", "X")  # the same call
    assert "--bpemodel exp/tts_tokens/bpe/bpe.model" in tok[2]
    assert any("spm_train" in c and "--vocab_size=7" in c for c in calls)
    for d in ("tts_tokens/char", "probe_tokens/char", "tts_tokens/bpe"):
        assert (tmp_path / "exp" / d / "tokens.txt").read_text().splitlines()[0] == "<blank>"
    assert p.stdout.count("up to date: exp/tts_tokens/char/tokens.txt") == 1
    assert "support char and bpe" in p.stdout and "rc=1" in p.stdout


def _pipeline_calls(tmp_path: Path, body: str) -> list[list[str]]:
    """The argument lists _probe_pipeline is called with (each a list of str; wait_teacher: ["WAITED"])."""
    p = _bash(tmp_path, "_probe_pipeline() { printf '%s\\x1f' \"$@\" >> pipeline.txt; printf '\\x1e' >> pipeline.txt; }\n"
                        "wait_teacher() { printf 'WAITED\\x1f\\x1e' >> pipeline.txt; }\n" + body)
    assert p.returncode == 0, p.stdout + p.stderr
    records = (tmp_path / "pipeline.txt").read_text().split("\x1e")[:-1]
    return [r.split("\x1f")[:-1] for r in records]


def test_baseline_probes_name_their_inputs(tmp_path):
    (tmp_path / "dump" / "teacher" / "tr").mkdir(parents=True)
    (tmp_path / "dump" / "teacher" / "tr" / "feats.scp").write_text("")
    calls = _pipeline_calls(tmp_path, "stage=18; run_probe_baselines 'fbank teacher judge none'\n")
    fbank, waited, teacher, judge = calls
    assert fbank[:4] == ["--tag", "fbank", "--input", "wav"]
    assert fbank[fbank.index("--frontend_args") + 1].split() == [
        "--frontend", "default", "--frontend_conf", "fs=16000", "--frontend_conf", "n_fft=512", "--frontend_conf",
        "win_length=400", "--frontend_conf", "hop_length=160", "--frontend_conf", "n_mels=80"]
    assert fbank[fbank.index("--sid_args") + 1] == "--wav_scp dump/raw/tr/wav.scp --feature fbank --fs 16000"
    assert waited == ["WAITED"]
    assert teacher[:2] == ["--tag", "teacher_hub"]
    assert teacher[teacher.index("--frontend_args") + 1].split() == [
        "--frontend", "s3prl_frozen", "--frontend_conf", "frontend_conf.upstream=hubert",
        "--frontend_conf", "multilayer_feature=true"]
    assert teacher[-4:] == ["--sid_args", "--feats_scp dump/teacher/tr/feats.scp", "--dep", "dump/teacher/tr/.done"]
    assert judge[:2] == ["--tag", "judge"] and judge[-4:] == ["--config", "conf/judge.yaml", "--extra_args", "--max_epoch 9"]
    assert "--sid_args" not in judge and "--dep" not in judge


def test_vae_probe_gets_its_run_as_arguments(tmp_path):
    for s in ("tr", "dv", "te"):
        d = tmp_path / "exp" / "svae_x" / "latents" / s
        d.mkdir(parents=True)
        (d / "latents.scp").write_text("")
        (d / ".done").write_text("k\n")
    calls = _pipeline_calls(tmp_path, "stage=18; run_probe_stages --svae_tag x --svae_exp exp/svae_x "
                                      "--model_file exp/svae_x/m.pth --model_key 'abc  exp/svae_x/m.pth'\n")
    (c,) = calls
    lat = "exp/svae_x/latents"
    deps = [c[i + 1] for i, a in enumerate(c) if a == "--dep"]
    assert deps == ["abc  exp/svae_x/m.pth", "exp/svae_x/config.yaml", f"{lat}/tr/.done", f"{lat}/dv/.done",
                    f"{lat}/te/.done", f"{lat}/tr/.done"]
    assert c[c.index("--input") + 1] == "latents" and c[c.index("--latents_dir") + 1] == lat
    assert c[c.index("--frontend_args") + 1] == "--input_size 64"
    assert c[c.index("--sid_args") + 1] == f"--feats_scp {lat}/tr/latents.scp"
    p = _bash(tmp_path, "run_probe_stages --svae_tag x || echo rc=$?\n")
    assert "run_probe_stages: --svae_exp is required" in p.stdout and "rc=1" in p.stdout


def test_probe_pipeline_keys_hash_the_arguments_as_before(tmp_path):
    """Stage 18's key: the frontend options joined by single spaces, each --dep one item (a file_key line
    with spaces stays one), as when the callers set the arrays _pfargs and _pdeps themselves."""
    p = _bash(tmp_path, r"""
hash_of() { printf '[%s]' "$@" >> hashed.txt; echo >> hashed.txt; echo K; }
is_done() { return 0; }
stage=18; stop_stage=18
_probe_pipeline --tag t --input wav --frontend_args "--frontend  default
        --frontend_conf fs=16000" --dep "abc  m.pth" --dep c.yaml
""")
    assert p.returncode == 0, p.stdout + p.stderr
    line = (tmp_path / "hashed.txt").read_text().splitlines()[0]
    assert line == ("[dump/raw/tr/wav.scp][dump/raw/dv/wav.scp][dump/raw/tr/text][dump/raw/dv/text]"
                    "[exp/probe_tokens/char/tokens.txt][conf/probe.yaml][none]"
                    "[--frontend default --frontend_conf fs=16000][abc  m.pth][c.yaml]")
    assert "probe t: input wav" in p.stdout and "up to date" in p.stdout


def test_probe_training_that_writes_no_decoded_checkpoint_stops_stage_19(tmp_path):
    """The probes are decoded at --probe_inference_model (default: the best dev-CER epoch); a probe
    config whose best_model_criterion does not track it stops stage 19 with a message naming the fix,
    and is not marked trained (a rerun with a fixed config trains it again)."""
    (tmp_path / "gpu_cmd").write_text('#!/usr/bin/env bash\n[ "$1" = --gpu ] && shift 2; log=$1; shift\n'
                                      'mkdir -p "$(dirname "$log")"; "$@" > "$log" 2>&1\n')
    (tmp_path / "gpu_cmd").chmod(0o755)
    p = _bash(tmp_path, r"""
cuda_cmd=./gpu_cmd; write_exp_run_sh() { :; }
probe_inference_model=valid.cer_ctc.best.pth; stage=19; stop_stage=19
_probe_pipeline --tag t --input wav || echo "rc=$?"
[ -f exp/probe_t/.done_train ] || echo "t not marked"
export FAKE_CER=1
_probe_pipeline --tag t --input wav && echo "t trained"
[ -f exp/probe_t/.done_train ] && echo "t marked"
""")
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "wrote no exp/probe_t/valid.cer_ctc.best.pth (--probe_inference_model)" in out
    assert "best_model_criterion of conf/probe.yaml" in out and "rc=1" in out and "t not marked" in out
    assert "t trained" in out and "t marked" in out
