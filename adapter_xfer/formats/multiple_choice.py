"""The `multiple_choice` format (to be filled in)."""

FORMATS: tuple = ()
