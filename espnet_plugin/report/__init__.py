"""Comparison reports: Markdown/CSV tables (:mod:`.table`) and matplotlib figures (:mod:`.plots`)."""
