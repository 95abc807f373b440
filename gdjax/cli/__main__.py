"""``python -m gdjax.cli``, the same as ``gdjax`` and ``python -m gdjax``."""

import sys

from gdjax.cli.entry import main

sys.exit(main())
