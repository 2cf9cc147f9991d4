"""``python -m scanner`` runs the same CLI as ``shadow-agents``.

``python -m`` puts the current directory first on ``sys.path``; a scanned repository's own
``detectors/`` or ``reports/`` there must not be imported in place of ours, so that entry
goes unless this package itself lives there (a source checkout).
"""

import os
import sys

_here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.getcwd() and _here != os.getcwd():
    del sys.path[0]

from scanner.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
