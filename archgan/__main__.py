"""`python -m archgan` is the `archgan` command."""
import sys

from .cli import main

sys.exit(main())
