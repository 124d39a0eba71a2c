"""VAE decoders: latent ``z (B, D, T)`` -> float32 waveform ``(B, 1, T * hop_length)`` (also under autocast)."""
from espnet_plugin.vae.decoders.bigvgan import BigVGANDecoder
from espnet_plugin.vae.decoders.vocos import VocosDecoder

__all__ = ["BigVGANDecoder", "VocosDecoder"]
