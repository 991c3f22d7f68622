"""``python -m btgym.cli``."""

import sys

from btgym.cli import main

sys.exit(main())
