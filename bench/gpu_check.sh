#!/usr/bin/env bash
# GPU check of the ESPnet training and inference paths (run on a machine with a CUDA GPU).
#   bash bench/gpu_check.sh [OUT_DIR]
# 1. a tiny corpus (synthetic harmonic audio) + a fbank teacher cache dumped on the GPU;
# 2. SpeechVAETask training of the PAPER-SIZE jmas config (DAC d_model 128, BigVGAN, MPD+CQT,
#    adaptive mdms+mcos) for a few steps with --ngpu 1, once in fp32 and once with --use_amp true;
# 3. svae_inference on cuda; 4. the bench scripts with --device cuda --quick.
# Prints the GPU, then step times and the peak GPU memory (ESPnet's gpu_max_cached_mem_GB: torch's
# max_memory_reserved) from ESPnet's logs; exits non-zero on the first failure, of any step.
# Logs and bench outputs stay in OUT_DIR; the corpus and the models are removed at exit.
set -euo pipefail
out=${1:-/tmp/gpu_check}
mkdir -p "${out}"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
gpu=$(${py} -c 'import torch; p = torch.cuda.get_device_properties(0); print(f"{p.name}, {p.total_memory / 2**30:.1f} GiB, torch {torch.__version__}")')
echo "== GPU: ${gpu}"
${py} - "${work}" <<'PY'
import sys, numpy as np, soundfile as sf
from pathlib import Path
d = Path(sys.argv[1]); (d / "wav").mkdir()
rng = np.random.default_rng(0)
lines, shapes = [], []
for i in range(16):
    n = 16000 * 3
    t = np.arange(n) / 16000
    f0 = 100 + 80 * rng.random()
    w = sum(np.sin(2 * np.pi * f0 * k * t + rng.random()) / k for k in range(1, 10))
    w = (0.2 * w * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    sf.write(d / "wav" / f"u{i:02d}.wav", w, 16000, subtype="PCM_16")
    lines.append(f"u{i:02d} {d}/wav/u{i:02d}.wav\n"); shapes.append(f"u{i:02d} {n}\n")
(d / "wav.scp").write_text("".join(lines)); (d / "shape").write_text("".join(shapes))
PY
${py} -m espnet_plugin.bin.dump_teacher --wav_scp ${work}/wav.scp --output_dir ${work}/teacher \
    --upstream fbank --layer 0 --device cuda 2>&1 | tail -n 2
${py} -m espnet_plugin.bin.merge_config tuning/jmas -o ${work}/train_svae_jmas.yaml   # base + loss override
for amp in false true; do
    exp=${work}/exp_amp_${amp}
    ${py} -m espnet_plugin.bin.svae_train --config ${work}/train_svae_jmas.yaml --ngpu 1 --use_amp ${amp} \
        --output_dir ${exp} --teacher_conf upstream=fbank --teacher_conf layer=0 \
        --train_data_path_and_name_and_type ${work}/wav.scp,audio,sound \
        --train_data_path_and_name_and_type ${work}/teacher/feats.scp,teacher_feats,kaldi_ark \
        --valid_data_path_and_name_and_type ${work}/wav.scp,audio,sound \
        --valid_data_path_and_name_and_type ${work}/teacher/feats.scp,teacher_feats,kaldi_ark \
        --train_shape_file ${work}/shape --valid_shape_file ${work}/shape \
        --max_epoch 2 --num_iters_per_epoch 12 --num_workers 2 --batch_size 8 --log_interval 4 \
        > ${out}/train_amp_${amp}.log 2>&1 || { tail -n 40 ${out}/train_amp_${amp}.log; exit 1; }
    echo "== amp=${amp}: $(grep -o 'generator_train_time=[0-9.e-]*\|discriminator_train_time=[0-9.e-]*\|lambda_m[a-z]*=[0-9.e+-]*\|distill_total=[0-9.e+-]*' ${out}/train_amp_${amp}.log | tail -n 5 | tr '\n' ' ')"
    # ESPnet's reporter logs the peak so far at each epoch's end (train and valid): the last one is the run's
    peak=$(grep -o 'gpu_max_cached_mem_GB=[0-9.e+-]*' ${out}/train_amp_${amp}.log | tail -n 1 || true)
    echo "   peak ${peak:-(no gpu_max_cached_mem_GB in the log)}"
done
${py} -m espnet_plugin.bin.svae_inference --config ${work}/exp_amp_true/config.yaml \
    --model_file ${work}/exp_amp_true/2epoch.pth --wav_scp ${work}/wav.scp --output_dir ${work}/inf --device cuda 2>&1 | tail -n 1
echo "== bench_train_step (cuda, fp32 and bf16 AMP)"
${py} bench/bench_train_step.py --device cuda --quick --amp > ${out}/bench_train_step.txt 2>&1 \
    || { tail -n 40 ${out}/bench_train_step.txt; echo "bench_train_step.py failed (${out}/bench_train_step.txt)"; exit 1; }
tail -n 30 ${out}/bench_train_step.txt
echo "== bench_resynthesis (cuda)"
${py} bench/bench_resynthesis.py --device cuda --quick --sizes cpu,paper > ${out}/bench_resynthesis.txt 2>&1 \
    || { tail -n 40 ${out}/bench_resynthesis.txt; echo "bench_resynthesis.py failed (${out}/bench_resynthesis.txt)"; exit 1; }
tail -n 25 ${out}/bench_resynthesis.txt
