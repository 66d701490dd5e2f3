"""`python -m scenesmith` = the `scenesmith` command."""

from scenesmith.cli import main

main()
