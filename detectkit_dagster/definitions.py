"""Code location entry point: the definitions of the project folder.

The folder is $DETECTKIT_PROJECT_DIR, or the current working directory when it holds a
`metrics/` folder, or else the repository root this package lives in.
"""

import dagster as dg

from .config.project import default_project_dir
from .defs import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(default_project_dir())
