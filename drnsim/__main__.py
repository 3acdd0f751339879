"""`python -m drnsim` runs the `drnsim` command (`drnsim.cli.main`)."""

import os
import sys

# `python -m` puts the current folder first on sys.path; drnsim itself is imported by now, so
# take it off again: the command adds it (after the installed packages) only when an agent is
# named by import path, so that a file such as matplotlib.py there is never run by accident.
if sys.path and sys.path[0] in ("", os.getcwd()):
    sys.path.pop(0)

from drnsim.cli import main  # noqa: E402

main()
