import sys

from issuesight.cli import main

sys.exit(main())
