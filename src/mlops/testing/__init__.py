"""Helpers that build small real things (a tiny base model, a JSONL dataset) locally."""
