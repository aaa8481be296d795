"""pytest plugin: openssh fixtures (filled in by its owner)."""
