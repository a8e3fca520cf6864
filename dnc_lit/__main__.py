"""`python -m dnc_lit`: the `dnc-lit` command line (see nbs/52_cli.ipynb).

Written by hand, not exported: nbdev can only append `#| export __main__` cells to an
existing module (it would add them again at every export), so this two-line file is kept
as it is."""
import sys
from dnc_lit.cli import main

if __name__ == "__main__": sys.exit(main())
