"""python tools/eval.py: the same as the installed `ppcls-eval` (ppcls_lite/cli/eval.py has the options)."""
import sys

from ppcls_lite.cli.eval import main

if __name__ == "__main__":
    sys.exit(main())
