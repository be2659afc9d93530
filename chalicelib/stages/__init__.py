"""One module per stage of the release state machine, in flow order: prepare, build, preflight,
distribute (copy), publish, validate, announce, marketplace, finalize (and fail)."""
