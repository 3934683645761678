"""``python -m labctl`` runs the ``labctl`` command."""

import sys

from labctl.cli import main

sys.exit(main())
