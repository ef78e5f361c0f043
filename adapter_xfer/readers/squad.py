"""Readers for squad files (to be filled in)."""

READERS: dict = {}
