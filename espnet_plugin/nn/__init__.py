"""Small neural-network helpers shared by the VAE, the distillation terms, the TTS and the probe.

Modules:
    masking - (B,) lengths -> (B, T) masks, masked means, filling padded positions
"""
from espnet_plugin.nn.masking import fill_padding, lengths_to_mask, masked_mean

__all__ = ["fill_padding", "lengths_to_mask", "masked_mean"]
