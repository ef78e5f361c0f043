"""Readers for choice files (to be filled in)."""

READERS: dict = {}
