"""Probing the frozen latent (the understanding axis).

- :mod:`espnet_plugin.probe.frontend`: ``SVAELatentFrontend``, a frozen VAE as an ESPnet ASR frontend
  (posterior mean at 40 Hz, or a SUPERB-style learnable weighted sum of the encoder's layers).
- :mod:`espnet_plugin.probe.teacher_frontend`: ``FrozenS3prlFrontend``, the SSL teacher as a frozen
  frontend (ESPnet's s3prl frontend whose upstream stays in eval mode through ``model.train()``).
- :mod:`espnet_plugin.probe.register`: adds them to ESPnet's ASR frontend choices (``svae_latent``,
  ``s3prl_frozen``);
  called by ``espnet_plugin.bin.asr_probe_train`` / ``asr_probe_inference`` only: importing this
  package registers nothing.
- :mod:`espnet_plugin.probe.sid`: speaker-identification probe (pooled features + linear classifier).
"""
