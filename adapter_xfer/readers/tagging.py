"""Readers for tagging files (to be filled in)."""

READERS: dict = {}
