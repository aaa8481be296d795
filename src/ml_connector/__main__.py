"""``python -m ml_connector`` is the ``ml-connector`` command."""

from ml_connector.entrypoints.cli import main

main()
