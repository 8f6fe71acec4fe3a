"""Code location entry point: the definitions of the project folder.

The folder is $DETECTKIT_PROJECT_DIR, else the current working directory; a folder that is not
a project fails to load with one line saying so (never another project in its place).
"""

import dagster as dg

from .config.project import default_project_dir
from .defs import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(default_project_dir())
