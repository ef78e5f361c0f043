"""The `span_qa` format (to be filled in)."""

FORMATS: tuple = ()
