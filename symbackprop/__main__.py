"""`python -m symbackprop` runs the command line."""

from symbackprop.cli import main

raise SystemExit(main())
