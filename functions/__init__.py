"""One module per task of the release state machine: parse, call chalicelib, return."""
