import sys

from gdjax.cli import main

sys.exit(main())
