"""espnet_plugin: speech VAEs aligned with SSL features, as an ESPnet plugin."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
reqs = [
    line.strip()
    for line in (here / "conf" / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
    and not line.split("==")[0] in {"pytest", "hypothesis", "playwright"}
]

setup(
    name="espnet_plugin",
    version="0.1.0",
    description="Speech VAE with SSL-aligned latents: ESPnet tasks, distillation-loss plugins, recipes",
    long_description=(here / "README.md").read_text() if (here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["espnet_plugin", "espnet_plugin.*"]),
    python_requires=">=3.10",
    install_requires=reqs,
    extras_require={"test": ["pytest", "hypothesis", "playwright"]},
    entry_points={
        # third parties add distillation terms here: name = "pkg.module:ClassOrFactory"
        "espnet_plugin.distill_losses": [],
    },
)
