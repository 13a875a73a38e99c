"""`python -m mirante.emulators.pec`: the command line (cli.py)."""

import sys

from mirante.emulators.pec.cli import main

if __name__ == "__main__":
    sys.exit(main())
