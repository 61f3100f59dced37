"""`python -m symbackprop` runs the command line."""

from symbackprop.cli.main import main

raise SystemExit(main())
