"""python -m turkops: the CLI."""

from turkops.cli import main

main()
