"""`python -m hvgen ...` runs the command line, as the `hvgen` script does."""

from hvgen.cli import main

if __name__ == "__main__":
    main()
