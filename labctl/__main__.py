"""``python -m labctl`` runs the ``labctl`` command."""

import sys

from labctl.app.cli import main

sys.exit(main())
