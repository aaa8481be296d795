"""CLI commands: inspect. (Filled in by its owner.)"""
