"""What PyInstaller runs: the agent's command line."""

import sys

from gprofiler.cli import main

if __name__ == "__main__":
    sys.exit(main())
