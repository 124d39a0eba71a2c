"""VAE decoders: latent ``z (B, D, T)`` -> waveform ``(B, 1, T * hop_length)``."""
from espnet_plugin.vae.decoders.bigvgan import BigVGANDecoder
from espnet_plugin.vae.decoders.vocos import VocosDecoder

__all__ = ["BigVGANDecoder", "VocosDecoder"]
