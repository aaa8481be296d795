"""The pure domain: documents, money, issues. No I/O, no third-party imports."""
