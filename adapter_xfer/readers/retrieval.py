"""Readers for retrieval files (to be filled in)."""

READERS: dict = {}
