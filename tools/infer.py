"""python tools/infer.py: the same as the installed `ppcls-infer` (ppcls_lite/cli/infer.py has the options)."""
import sys

from ppcls_lite.cli.infer import main

if __name__ == "__main__":
    sys.exit(main())
