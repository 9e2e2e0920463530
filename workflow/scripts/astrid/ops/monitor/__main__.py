"""``python -m astrid.ops.monitor``: run every health check once."""

from astrid.ops.monitor.cli import main

raise SystemExit(main())
