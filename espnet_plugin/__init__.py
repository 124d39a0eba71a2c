"""espnet_plugin: speech VAEs whose latents are aligned with SSL features.

Sub-packages:
    distill  - alignment (distillation) terms, weighting, projection heads, teachers
    vae      - encoder, bottleneck, decoders, discriminators, losses, the ESPnet GAN model
    tasks    - ESPnet tasks (SpeechVAETask, LatentTTSTask)
    tts      - F5-TTS-style flow-matching model on latents
    probe    - frozen-latent frontends for ESPnet's ASR task, speaker-id probe
    metrics  - metric registry, reconstruction / generation / understanding scores
    report   - comparison tables and plots
    demo     - Gradio resynthesis demo
    io, data - audio loading / Kaldi data dirs / corpus preparation
"""

__version__ = "0.1.0"

# ESPnet's tokenizer chain imports g2p_en, whose import downloads NLTK data when it is absent
# (offline: "[nltk_data] Error loading ..." in every log): run its body only when it is used.
from espnet_plugin.lazy_imports import defer_g2p_en as _defer_g2p_en  # noqa: E402

_defer_g2p_en()
