"""``python -m scanner`` runs the same CLI as ``shadow-agents``."""

from scanner.cli import main

if __name__ == "__main__":
    main()
