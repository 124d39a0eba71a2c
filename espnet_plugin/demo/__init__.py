"""Gradio demo: listen to resyntheses of several speech VAEs side by side (+ latent TTS).

``inference`` holds the gradio-free back end (cached models, input checks, resynthesis, metrics,
TTS); ``app`` the layout and launch; ``python -m espnet_plugin.bin.demo`` the command line.
"""
