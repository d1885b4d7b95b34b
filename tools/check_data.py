"""python tools/check_data.py: the same as the installed `ppcls-check-data` (ppcls_lite/cli/check_data.py)."""
import sys

from ppcls_lite.cli.check_data import main

if __name__ == "__main__":
    sys.exit(main())
