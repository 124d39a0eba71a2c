"""F5-TTS-style flow-matching TTS on VAE latents (or mel frames).

Modules:
    text      - ESPnet token lists / tokenizers and F5's filler padding
    dit       - the DiT velocity network (AdaLN-zero, RoPE, ConvNeXt-V2 text blocks)
    cfm       - conditional flow-matching loss and CFG ODE sampling
    duration  - F5's total-length rule and the sway-sampling time grid
    ema       - EMA of the weights, stored inside the model
    seeds     - per-utterance noise seeds (stable hash of run seed + utterance id)
    pairs     - the zero-shot test list (utt, prompt wav, prompt text, target text)
    synthesizer - LatentTTS: a loaded TTS + its VAE, prompt + texts -> speech (imports ESPnet's task;
                not imported here)

Only torch is imported here (ESPnet is imported lazily by ``text.CharTokenizer``), so the
model can be used on machines without ESPnet (e.g. for benchmarks).
"""
from espnet_plugin.tts.cfm import CFM
from espnet_plugin.tts.dit import DiT
from espnet_plugin.tts.duration import estimate_duration, sway_sampling, text_length, time_schedule
from espnet_plugin.tts.ema import EMA
from espnet_plugin.tts.seeds import seeded_noise, utterance_seed
from espnet_plugin.tts.text import FILLER_ID, CharTokenizer, pad_text_to_length, token_list_from_text

__all__ = [
    "CFM",
    "DiT",
    "EMA",
    "FILLER_ID",
    "CharTokenizer",
    "estimate_duration",
    "pad_text_to_length",
    "seeded_noise",
    "sway_sampling",
    "text_length",
    "time_schedule",
    "token_list_from_text",
    "utterance_seed",
]
