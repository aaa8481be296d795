"""pytest plugin: postgres fixtures (filled in by its owner)."""
