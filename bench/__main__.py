import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

from bench.runner import main

sys.exit(main())
