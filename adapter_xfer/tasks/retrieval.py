"""retrieval tasks (to be filled in)."""

ENTRIES: tuple = ()
