"""`python -m sweepq` is the `sweepq` command."""

from .cli import main

main(prog_name="sweepq")
