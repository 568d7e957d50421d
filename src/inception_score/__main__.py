"""``python -m inception_score`` is the ``inception-score`` command."""

from .cli import main

raise SystemExit(main())
