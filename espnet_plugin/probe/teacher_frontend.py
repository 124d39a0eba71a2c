"""The SSL teacher as a FROZEN ESPnet ASR frontend (the probe's upper-bound baseline).

ESPnet's ``S3prlFrontend`` plus ``--freeze_param frontend.upstream`` only stops the upstream's
parameters from learning: ESPnet's trainer calls ``model.train()`` every epoch, which puts the
upstream back into training mode, so its dropout (and layer-drop) would run while the probe is
trained, and the probe would see noisier teacher features than the VAE latents it is compared
with (whose frontend, :class:`espnet_plugin.probe.frontend.SVAELatentFrontend`, stays in eval).

:class:`FrozenS3prlFrontend` is ``S3prlFrontend`` with the rule

    upstream: requires_grad = False for every parameter, eval mode always (train() ignores it);
    featurizer (the learnable layer weights of ``multilayer_feature``): trained as before,

so two forwards of the same input give identical features in either mode. Registered for the
ASR task as ``--frontend s3prl_frozen`` (same ``--frontend_conf`` as ``s3prl``) by
:func:`espnet_plugin.probe.register.register_probe_frontends`.
"""

from __future__ import annotations

from espnet2.asr.frontend.s3prl import S3prlFrontend


class FrozenS3prlFrontend(S3prlFrontend):
    """``S3prlFrontend`` whose upstream is frozen and always in eval mode.

    Args: those of ``espnet2.asr.frontend.s3prl.S3prlFrontend`` (``fs``, ``frontend_conf`` with
    ``upstream`` / ``path_or_url``, ``download_dir``, ``multilayer_feature``, ``layer``).

    Forward: ``input (B, N)`` waveform, ``input_lengths (B,)`` -> ``feats (B, T, output_size())``,
    ``feats_lengths (B,)``, as ``S3prlFrontend`` (no upstream parameter requires grad, so autograd
    records no graph through the upstream).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for p in self.upstream.parameters():
            p.requires_grad_(False)
        self.upstream.eval()

    def train(self, mode: bool = True) -> "FrozenS3prlFrontend":
        """Train/eval mode for the featurizer only: the upstream always stays in eval mode."""
        super().train(mode)
        self.upstream.eval()
        return self
