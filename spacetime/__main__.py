import sys

from spacetime.cli import main

sys.exit(main())
