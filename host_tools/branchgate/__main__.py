"""`python -m branchgate` runs the `branchgate` command."""
import sys

from .cli import main

sys.exit(main())
