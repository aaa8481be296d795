"""Adapters: the edges of the system (Stampli SFTP, Visma REST, the ledger database)."""
