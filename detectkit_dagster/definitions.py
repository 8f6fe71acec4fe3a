"""Code location entry point: `defs` for the project folder.

The folder is $DETECTKIT_PROJECT_DIR, or the current working directory when it holds a
`metrics/` folder, or else the repository root this package lives in.
"""

from .config.project import default_project_dir
from .defs import build_definitions

defs = build_definitions(default_project_dir())
