"""Entry points: the CLI (and later the scheduler and the web dashboard). No business logic here."""
