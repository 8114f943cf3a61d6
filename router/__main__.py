"""`python -m router ...`: see `router.cli`."""

from router.tools import main

raise SystemExit(main())
