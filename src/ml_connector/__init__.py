"""ml-connector: Stampli approved invoices and payments into Visma.net ERP, exactly once."""

__version__ = "0.1.0"
__all__ = ["__version__"]
