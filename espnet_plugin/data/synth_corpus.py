"""The offline synthetic multi-speaker corpus (espeak-ng + flite voices, generated text).

Layout written by :func:`make_corpus`::

    <out_dir>/wav/<spk>/<utt>.wav         16 kHz mono 16-bit PCM, lightly trimmed, peak 0.9
    <out_dir>/speakers.tsv                speaker id, engine, voice, variant, pitch, rate, split
    <data_dir>/{train,dev,test}/{wav.scp,text,utt2spk,spk2utt}
    <data_dir>/.synth_done                manifest: arguments + engine versions + hash

Splits (zero-shot TTS): the ``num_test_speakers`` test speakers never occur in train or
dev; every test speaker has at least :data:`MIN_PROMPTS` utterances (prompts and targets).
``dev`` is a held-out *utterance* subset (``dev_utts_per_speaker`` per speaker) of the
training speakers: it is the validation set of the VAE / TTS training, while generalisation
to new voices is measured on ``test``.  Utterance ids are ``<spk>-<4 digits>``, so sorting
by utterance also sorts by speaker (Kaldi's requirement).

Reproducible: the same seed gives the same texts, voices, splits and, because both
engines and the resampler are deterministic, byte-identical wavs (whatever ``nj``).
Idempotent: when ``.synth_done`` matches the arguments and every wav exists, nothing is done.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Union

import numpy as np

from espnet_plugin.data.textgen import generate_sentences, to_synth_text
from espnet_plugin.data.voices import Voice, check_engines, engine_versions, list_voices, synthesize
from espnet_plugin.errors import ConfigError
from espnet_plugin.io.audio import check_waveform, load_audio, write_audio
from espnet_plugin.io.kaldi_dir import write_data_dir, write_text_atomic
from espnet_plugin.io.parallel import map_in_order

logger = logging.getLogger(__name__)
PathLike = Union[str, os.PathLike]

CORPUS_VERSION = 1
FS = 16000
MIN_PROMPTS = 5
TRIM_DB = 40.0  # frames quieter than peak frame RMS - TRIM_DB are trimmed at both ends
TRIM_MARGIN_S = 0.1  # silence kept before the first / after the last loud frame
PEAK = 0.9


def trim_silence(wav: np.ndarray, fs: int = FS, top_db: float = TRIM_DB,
                 margin_s: float = TRIM_MARGIN_S) -> np.ndarray:
    """Cut leading/trailing silence, keeping ``margin_s`` seconds around the speech.

    Frames of 10 ms whose RMS is more than ``top_db`` below the loudest frame count as
    silence.

    Args:
        wav: (N,) waveform.
    Returns:
        (M,) waveform, M <= N (unchanged when nothing is loud).
    """
    hop = max(1, fs // 100)
    n = wav.shape[0] // hop
    if n == 0:
        return wav
    rms = np.sqrt(np.mean(wav[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    peak = rms.max()
    if peak <= 0:
        return wav
    loud = np.nonzero(rms >= peak * 10 ** (-top_db / 20))[0]
    margin = int(round(margin_s * fs))
    start = max(0, loud[0] * hop - margin)
    end = min(wav.shape[0], (loud[-1] + 1) * hop + margin)
    return wav[start:end]


def _synth_job(job: tuple[Voice, str, str, str]) -> tuple[str, int]:
    """Synthesise one utterance, convert to 16 kHz PCM, trim, normalise, validate, write.

    The clip is validated in memory (0.5 s to 20 s, finite, not silent) before it is written,
    so a failing clip leaves no file; writing 16-bit PCM at 16 kHz keeps the sample count.

    Args:
        job: (voice, transcript, utt_id, output wav path).
    Returns:
        (utt_id, number of samples written).
    Raises:
        DataError: the synthesised clip is unreadable or fails validation (naming the utterance).
    """
    voice, transcript, utt_id, out_path = job
    out = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="synth_") as tmp:
        raw = Path(tmp) / "raw.wav"
        synthesize(voice, to_synth_text(transcript), raw)
        wav = load_audio(raw, FS, utt_id=utt_id)
    wav = trim_silence(wav)
    wav = wav * np.float32(PEAK / max(float(np.max(np.abs(wav))), 1e-9))
    check_waveform(wav, FS, f"utterance {utt_id!r} ({out})", min_samples=FS // 2, max_seconds=20.0)
    write_audio(out, wav, FS)
    return utt_id, int(wav.shape[0])


def plan_corpus(
    num_utts: int = 640,
    num_voices: int = 24,
    num_test_speakers: int = 4,
    dev_utts_per_speaker: int = 2,
    seed: int = 0,
    min_words: int = 4,
    max_words: int = 14,
) -> tuple[dict[str, Voice], dict[str, dict[str, tuple[str, str]]]]:
    """Decide voices, texts and splits (no audio).

    Returns:
        (voices by speaker id, {split: {utt_id: (speaker id, transcript)}}) for the splits
        ``train``, ``dev``, ``test``.
    Raises:
        ConfigError: too few utterances per speaker for the dev split or the test prompts.
    """
    if not 1 <= num_test_speakers < num_voices:
        raise ConfigError(
            f"num_test_speakers={num_test_speakers} must be in [1, num_voices={num_voices})"
        )
    per_spk = num_utts // num_voices
    if per_spk < max(MIN_PROMPTS, dev_utts_per_speaker + 1):
        raise ConfigError(
            f"num_utts={num_utts} / num_voices={num_voices} gives {per_spk} utterances per "
            f"speaker; need >= {max(MIN_PROMPTS, dev_utts_per_speaker + 1)} (test prompts, dev)"
        )
    voices = {v.speaker_id: v for v in list_voices(num_voices, seed)}
    rng = random.Random(f"split-{seed}")
    order = sorted(voices)
    rng.shuffle(order)
    flite = [s for s in order if voices[s].engine == "flite"]
    test: list[str] = []
    if len(flite) >= 2 and num_test_speakers >= 2:
        test.append(flite[0])  # one flite test voice; the others stay in training
    for gender in "fmfmfmfmfm" * num_voices:
        if len(test) == num_test_speakers:
            break
        cand = [s for s in order if s not in test and voices[s].engine == "espeak"
                and voices[s].gender == gender]
        if cand:
            test.append(cand[0])
    for s in order:  # fallback when genders ran out
        if len(test) < num_test_speakers and s not in test:
            test.append(s)
    texts = generate_sentences(num_utts, seed, min_words, max_words)
    by_spk: dict[str, list[str]] = {s: [] for s in order}
    for i, t in enumerate(texts):
        by_spk[order[i % num_voices]].append(t)
    splits: dict[str, dict[str, tuple[str, str]]] = {"train": {}, "dev": {}, "test": {}}
    for spk, spk_texts in by_spk.items():
        for k, t in enumerate(spk_texts):
            utt = f"{spk}-{k:04d}"
            if spk in test:
                split = "test"
            elif k >= len(spk_texts) - dev_utts_per_speaker:
                split = "dev"
            else:
                split = "train"
            splits[split][utt] = (spk, t)
    return voices, splits


def _manifest(args: dict) -> dict:
    body = {"version": CORPUS_VERSION, "engines": engine_versions(), "args": args}
    body["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return body


def make_corpus(
    out_dir: PathLike,
    data_dir: PathLike,
    num_utts: int = 640,
    num_voices: int = 24,
    num_test_speakers: int = 4,
    dev_utts_per_speaker: int = 2,
    seed: int = 0,
    nj: int = 2,
    min_words: int = 4,
    max_words: int = 14,
    show_progress: bool = True,
) -> dict:
    """Synthesise the corpus and write Kaldi dirs ``data_dir/{train,dev,test}``.

    Args:
        out_dir: where the wavs go (``out_dir/wav/<spk>/<utt>.wav``).
        data_dir: parent of the Kaldi dirs.
        num_utts: total utterances (distinct sentences).
        num_voices: number of distinct voices (speakers).
        num_test_speakers: speakers held out entirely for test (zero-shot TTS).
        dev_utts_per_speaker: utterances per training speaker held out as dev.
        seed: random seed of texts, voices and splits.
        nj: parallel synthesis processes.
        min_words, max_words: sentence length bounds.
        show_progress: tqdm progress bar.
    Returns:
        the manifest dict (arguments, hash, per-split utterance counts and hours,
        ``synth_seconds`` of wall time; ``skipped: True`` when it was up to date).
    Raises:
        ConfigError: bad sizes or missing engines.  DataError: a synthesis failed.
    """
    args = dict(out_dir=str(out_dir), num_utts=num_utts, num_voices=num_voices,
                num_test_speakers=num_test_speakers,
                dev_utts_per_speaker=dev_utts_per_speaker, seed=seed,
                min_words=min_words, max_words=max_words)
    data = Path(data_dir)
    stamp = data / ".synth_done"
    manifest = _manifest(args)
    if stamp.is_file():
        try:
            old = json.loads(stamp.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("hash") == manifest["hash"] and _complete(data):
            logger.info("%s: synthetic corpus up to date (%s); nothing to do", data, stamp)
            return {**old, "skipped": True}
    voices, splits = plan_corpus(num_utts, num_voices, num_test_speakers,
                                 dev_utts_per_speaker, seed, min_words, max_words)
    check_engines(list(voices.values()))
    wav_root = os.path.join(str(out_dir), "wav")
    jobs = [(voices[spk], text, utt, os.path.join(wav_root, spk, f"{utt}.wav"))
            for split in splits.values() for utt, (spk, text) in sorted(split.items())]
    t0 = time.perf_counter()
    num_samples = dict(map_in_order(_synth_job, jobs, nj, "synthesising", show_progress))
    elapsed = time.perf_counter() - t0
    stats = {}
    for name, split in splits.items():
        write_data_dir(
            data / name,
            wav={u: os.path.join(wav_root, spk, f"{u}.wav") for u, (spk, _) in split.items()},
            text={u: t for u, (_, t) in split.items()},
            utt2spk={u: spk for u, (spk, _) in split.items()},
        )
        secs = sum(num_samples[u] for u in split) / FS
        stats[name] = {"utts": len(split), "speakers": len({s for s, _ in split.values()}),
                       "hours": round(secs / 3600, 4)}
    spk_split = {spk: name for name in ("dev", "train", "test")
                 for spk, _ in splits[name].values()}
    rows = ["speaker\tengine\tvoice\tvariant\tpitch\trate\tgender\tsplit"]
    for sid, v in sorted(voices.items()):
        rows.append(f"{sid}\t{v.engine}\t{v.name}\t{v.variant or '-'}\t{v.pitch or '-'}\t"
                    f"{v.rate}\t{v.gender}\t{spk_split[sid]}")
    write_text_atomic(Path(out_dir) / "speakers.tsv", "\n".join(rows) + "\n")
    total = sum(num_samples.values()) / FS
    logger.info("synthesised %d utterances (%.1f min of audio) in %.1f s with nj=%d",
                len(jobs), total / 60, elapsed, nj)
    manifest.update(splits=stats, synth_seconds=round(elapsed, 2),
                    mean_utt_seconds=round(total / max(1, len(jobs)), 3))
    write_text_atomic(stamp, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def _complete(data: Path) -> bool:
    """All three Kaldi dirs exist and every wav they list is on disk."""
    for name in ("train", "dev", "test"):
        scp = data / name / "wav.scp"
        if not scp.is_file():
            return False
        for line in scp.read_text().splitlines():
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or not os.path.isfile(parts[1]):
                return False
    return True


__all__ = ["make_corpus", "plan_corpus", "trim_silence", "CORPUS_VERSION"]
