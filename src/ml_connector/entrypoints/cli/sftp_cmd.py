"""CLI commands: sftp. (Filled in by its owner.)"""
