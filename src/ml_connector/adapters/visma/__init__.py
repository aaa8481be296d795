"""adapters/visma."""
