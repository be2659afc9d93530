import sys

from atomic_release.cli.main import main

sys.exit(main())
