import sys

from taskengine.cli import main

sys.exit(main())
