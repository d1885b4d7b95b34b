"""python tools/convert_weights.py: the same as the installed `ppcls-convert` (ppcls_lite/cli/convert_weights.py)."""
import sys

from ppcls_lite.cli.convert_weights import main

if __name__ == "__main__":
    sys.exit(main())
