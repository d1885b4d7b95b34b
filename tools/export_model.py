"""python tools/export_model.py: the same as the installed `ppcls-export` (ppcls_lite/cli/export.py has the options)."""
import sys

from ppcls_lite.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
