"""pytest plugin: visma_sim fixtures (filled in by its owner)."""
