"""The `retrieval` format (to be filled in)."""

FORMATS: tuple = ()
