"""`python -m sweepq.fake`: the same as `sweepq fake-api`."""

from .cli import main

main()
