"""python tools/predict.py: the same as the installed `ppcls-predict` (ppcls_lite/cli/predict.py has the options)."""
import sys

from ppcls_lite.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
