"""Training helpers shared by the project's ESPnet tasks (crash-safe checkpointing)."""
