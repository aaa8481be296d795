"""CLI commands: visma. (Filled in by its owner.)"""
