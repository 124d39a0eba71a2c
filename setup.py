"""espnet_plugin: speech VAEs aligned with SSL features, as an ESPnet plugin.

Installs into an existing ESPnet environment without replacing its torch / ESPnet:

    pip install -e .                    # core: tasks, recipe bins, the project's own metrics
    pip install -e ".[judges]"          # + the recipe's scorers (PESQ, STOI, DistillMOS, Resemblyzer, ...)
    pip install -e ".[ssl]"             # + s3prl (SSL teachers), if ESPnet's `make s3prl.done` did not
    pip install -e ".[demo]"            # + the Gradio demo
    pip install -e ".[test]"            # + the test suite's tools

Dependencies are ranges. The versions tested together are the exact pins of
``conf/requirements.txt`` (torch 2.9.1, espnet 202511, gradio 6.31.0, ...), which only
``local/env.sh`` installs (the README's self-contained environment). The lower bounds below are
the oldest releases that have the APIs the code calls (e.g. torch 2.1:
``torch.nn.utils.parametrizations.weight_norm``; jiwer 3.0: ``process_words``); they are not
all tested. No upper bounds: none is known to break.
"""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent

# import name -> distribution is checked by tests/test_packaging.py (every third-party import of
# the package is declared here, and the optional ones only in an extra)
INSTALL_REQUIRES = [
    "torch>=2.1",
    "torchaudio>=2.1",
    "espnet>=202402",
    "numpy>=1.23",
    "scipy>=1.9",
    "PyYAML>=5.1",
    "soundfile>=0.10.2",
    "kaldiio>=2.17",
    "humanfriendly>=8.0",
    "tqdm>=4.60",
    "scikit-learn>=1.0",   # k-means targets of the HuBERT teacher
    "jiwer>=3.0",          # WER / CER of the probes and of the TTS judge
    "matplotlib>=3.5",     # the summary's pictures
    "tensorboard>=2.10",   # ESPnet's trainer logs to it (use_tensorboard, on by default)
    "vocos>=0.1.0",        # the Vocos decoder's backbone and head
    "sentencepiece>=0.1.97",  # BPE token lists (bin/spm_train; ESPnet depends on it too)
]

EXTRAS_REQUIRE = {
    # the recipe's scorers (metrics/judges.py, paper_judges.py, reconstruction.py), imported when used
    "judges": [
        "pesq>=0.0.4",
        "pystoi>=0.3.3",
        "distillmos>=0.9",
        "resemblyzer>=0.1.1",
        "pocketsphinx>=5.0",
        "transformers>=4.30",
    ],
    # SSL teachers (distill/teacher.py, probe/teacher_frontend.py); provides the `s3prl` module,
    # as does upstream `s3prl` (ESPnet's tools/installers): install one of them, not both
    "ssl": ["espnet-s3prl"],
    "demo": ["gradio>=4.0", "pandas>=1.5", "Pillow>=9.0"],
    # model packs from / to the Hugging Face hub (bin/pack.py upload, hub.py tags)
    "hub": ["huggingface_hub>=0.20"],
    "test": ["pytest>=7.0", "hypothesis>=6.0", "playwright>=1.40"],
}
EXTRAS_REQUIRE["all"] = sorted({r for name in ("judges", "ssl", "demo", "hub") for r in EXTRAS_REQUIRE[name]})

setup(
    name="espnet_plugin",
    version="0.1.0",
    description="Speech VAE with SSL-aligned latents: ESPnet tasks, distillation-loss plugins, recipes",
    long_description=(here / "README.md").read_text() if (here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["espnet_plugin", "espnet_plugin.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={
        # third parties add distillation terms here: name = "pkg.module:ClassOrFactory"
        "espnet_plugin.distill_losses": [],
    },
)
