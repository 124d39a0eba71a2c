"""Offline synthetic voices: espeak-ng (accent x variant x pitch x rate) and flite.

A :class:`Voice` is one synthetic "speaker".  :func:`list_voices` draws a reproducible set
of voices whose (engine, voice, variant) combinations are all distinct, so speakers differ by
more than speaking rate.  :func:`synthesize` runs the engine as a subprocess and writes the
engine's native wav (espeak-ng: 22.05 kHz, flite: 8 or 16 kHz).
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from espnet_plugin.errors import ConfigError, DataError

PathLike = Union[str, os.PathLike]

# "en" is British English; espeak-ng 1.51 ignores "+variant" after the alias "en-gb".
ESPEAK_ACCENTS = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029",
                  "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc"]
ESPEAK_MALE = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "david", "john", "max",
               "paul", "robert", "travis", "victor", "shelby", "Andy", "norbert"]
ESPEAK_FEMALE = ["f1", "f2", "f3", "f4", "f5", "Annie", "Andrea", "Alicia", "belinda",
                 "linda", "steph", "anika", "aunty"]
ESPEAK_PITCHES = list(range(30, 80, 5))  # espeak-ng -p (0..99, default 50)
ESPEAK_RATES = [150, 160, 170, 180]  # espeak-ng -s words per minute (default 175)
FLITE_VOICES = ["slt", "rms", "awb", "kal16", "kal"]
FLITE_RATES = [90, 100, 110]  # percent of normal speed; duration_stretch = 100 / rate


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker.

    Attributes:
        engine: ``"espeak"`` or ``"flite"``.
        name: espeak-ng language voice (``en-gb``) or flite voice (``slt``).
        variant: espeak-ng variant (``m3``, ``f2``, ``linda``); None for flite.
        pitch: espeak-ng base pitch 0..99; None for flite.
        rate: espeak-ng words per minute, or flite speed in percent (100 = normal).
    """

    engine: str
    name: str
    variant: str | None = None
    pitch: int | None = None
    rate: int = 100

    @property
    def speaker_id(self) -> str:
        """Kaldi-safe id, e.g. ``espk_engb_m3_p60_s170`` or ``flite_slt_r110``."""
        if self.engine == "espeak":
            acc = "engb" if self.name == "en" else self.name.replace("-", "").replace("_", "")
            return f"espk_{acc}_{self.variant.lower()}_p{self.pitch}_s{self.rate}"
        return f"flite_{self.name}_r{self.rate}"

    @property
    def combo(self) -> tuple[str, str, str | None]:
        """(engine, voice, variant): what makes two voices really differ."""
        return (self.engine, self.name, self.variant)

    @property
    def gender(self) -> str:
        """``'m'`` or ``'f'`` (nominal)."""
        if self.engine == "flite":
            return "f" if self.name == "slt" else "m"
        return "f" if self.variant in ESPEAK_FEMALE else "m"


def all_combos(include_flite: bool = True) -> list[tuple[str, str, str | None]]:
    """Every (engine, voice, variant) combination of the inventory."""
    combos = [("espeak", a, v) for a in ESPEAK_ACCENTS for v in ESPEAK_MALE + ESPEAK_FEMALE]
    if include_flite:
        combos += [("flite", v, None) for v in FLITE_VOICES]
    return combos


def list_voices(num: int, seed: int, include_flite: bool = True) -> list[Voice]:
    """Draw ``num`` voices with distinct (engine, voice, variant), reproducibly.

    Up to 4 flite voices (kal and kal16 are the same talker, so at most one of them) are
    mixed in; the rest are espeak-ng voices that alternate male/female variants and cycle
    through the accents, each with a random pitch and rate.

    Args:
        num: number of voices.
        seed: random seed.
        include_flite: allow flite voices.
    Returns:
        ``num`` voices, sorted by speaker id.
    Raises:
        ConfigError: ``num`` exceeds the number of distinct combinations.
    """
    limit = len(all_combos(include_flite)) - (1 if include_flite else 0)
    if not 1 <= num <= limit:
        raise ConfigError(f"list_voices: num={num} must be in [1, {limit}]")
    rng = random.Random(f"voices-{seed}")
    voices: list[Voice] = []
    if include_flite:
        flite = ["slt", "rms", "awb", rng.choice(["kal16", "kal"])]
        rng.shuffle(flite)
        for name in flite[: min(4, max(1, num // 6))]:
            voices.append(Voice("flite", name, rate=rng.choice(FLITE_RATES)))
    males, females = ESPEAK_MALE[:], ESPEAK_FEMALE[:]
    accents = ESPEAK_ACCENTS[:]
    rng.shuffle(males)
    rng.shuffle(females)
    rng.shuffle(accents)
    used: set[tuple[str, str, str | None]] = {v.combo for v in voices}
    i = 0
    while len(voices) < num:
        pool = females if i % 2 else males
        variant = pool[(i // 2) % len(pool)]
        accent = accents[i % len(accents)]
        i += 1
        # walk accents until the combination is new (always terminates: num <= limit)
        for k in range(len(accents)):
            acc = accents[(accents.index(accent) + k) % len(accents)]
            if ("espeak", acc, variant) not in used:
                break
        else:
            continue
        v = Voice("espeak", acc, variant, rng.choice(ESPEAK_PITCHES), rng.choice(ESPEAK_RATES))
        used.add(v.combo)
        voices.append(v)
    return sorted(voices, key=lambda v: v.speaker_id)


def check_engines(voices: list[Voice]) -> None:
    """Raise ConfigError when an engine or flite voice that ``voices`` need is missing."""
    for engine, binary in (("espeak", "espeak-ng"), ("flite", "flite")):
        if any(v.engine == engine for v in voices) and shutil.which(binary) is None:
            raise ConfigError(
                f"{binary} not found on PATH; install it (apt-get install {binary}) "
                "or choose other voices"
            )
    if any(v.engine == "flite" for v in voices):
        out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False)
        have = set(out.stdout.replace("Voices available:", "").split())
        missing = {v.name for v in voices if v.engine == "flite"} - have
        if missing:
            raise ConfigError(f"flite lacks voices {sorted(missing)} (has {sorted(have)})")


def engine_versions() -> str:
    """Version strings of the installed engines (part of a corpus's identity)."""
    parts = []
    for cmd in (["espeak-ng", "--version"], ["flite", "--version"]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
            parts.append(" ".join((out.stdout + out.stderr).split())[:120])
        except (OSError, subprocess.SubprocessError):
            parts.append(f"{cmd[0]} missing")
    return " | ".join(parts)


def synthesize(voice: Voice, text: str, out_path: PathLike, timeout: float = 60.0) -> None:
    """Synthesise ``text`` with ``voice`` into the wav file ``out_path`` (engine's native rate).

    Args:
        voice: the voice.
        text: what to say (plain words; passed as one argv item, never through a shell).
        out_path: output wav path (parent must exist).
        timeout: seconds before the engine is killed.
    Raises:
        ConfigError: the engine binary is missing.
        DataError: empty text, or the engine failed / wrote nothing.
    """
    words = " ".join(text.split())
    if not words:
        raise DataError(f"synthesize: empty text for voice {voice.speaker_id}")
    if words.startswith("-"):
        words = " " + words  # never parsed as an option
    if voice.engine == "espeak":
        cmd = ["espeak-ng", "-v", f"{voice.name}+{voice.variant}", "-p", str(voice.pitch),
               "-s", str(voice.rate), "-w", str(out_path), words]
    elif voice.engine == "flite":
        cmd = ["flite", "-voice", voice.name, "--setf",
               f"duration_stretch={100.0 / voice.rate:.4f}", "-t", words, "-o", str(out_path)]
    else:
        raise ConfigError(f"unknown synthesis engine {voice.engine!r}")
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ConfigError(f"{cmd[0]} not found on PATH (apt-get install {cmd[0]})") from exc
    except subprocess.TimeoutExpired as exc:
        raise DataError(f"{cmd[0]} timed out after {timeout} s on {words[:60]!r}") from exc
    p = Path(out_path)
    if res.returncode != 0 or not p.is_file() or p.stat().st_size <= 44:
        raise DataError(
            f"{cmd[0]} failed for voice {voice.speaker_id} on {words[:60]!r} "
            f"(rc={res.returncode}): {res.stderr.strip()[:300]}"
        )
