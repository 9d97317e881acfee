"""``python -m fastdenoise`` runs the CLI."""

from fastdenoise.cli import main

main()
