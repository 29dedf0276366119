import sys

from issuesight.cli.main import main

sys.exit(main())
