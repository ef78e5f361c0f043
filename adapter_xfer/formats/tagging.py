"""The `tagging` format (to be filled in)."""

FORMATS: tuple = ()
