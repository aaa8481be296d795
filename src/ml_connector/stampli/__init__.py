"""stampli."""
