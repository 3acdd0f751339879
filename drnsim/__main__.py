"""`python -m drnsim` runs the `drnsim` command."""

from drnsim.cli import app

app(prog_name="drnsim")
