"""`python -m adapter_xfer` runs the command line."""

import sys

from adapter_xfer.cli import main

sys.exit(main())
