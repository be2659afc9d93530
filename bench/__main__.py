"""`make bench`: every benchmark, each printing its figures, then one last line of JSON.
`python -m bench compress` (`make bench-compress`): the downloadable images' compression only."""

import json
import sys

from bench import compress, poll, release

if sys.argv[1:] == ["compress"]:
    compress.measure()
    sys.exit(0)
figures = release.measure()
print()
polled = poll.measure()
figures.update({f"poll_{case}_{key}": value[key] for case, value in polled.items() if isinstance(value, dict)
                for key in ("requests", "body_bytes", "signature_requests", "signature_bytes", "verify_ms")})
print(json.dumps(figures))
