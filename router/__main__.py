"""`python -m router ...`: see `router.cli`."""

from router.cli import main

raise SystemExit(main())
