"""python tools/train.py: the same as the installed `ppcls-train` (ppcls_lite/cli/train.py has the options)."""
import sys

from ppcls_lite.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
