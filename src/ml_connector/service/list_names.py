"""The names of the lists an export can send (the vendor file, then the coding lists), without the
export's machinery: the command line's help text needs them at start-up."""

from ml_connector.masterdata.lists import LIST_NAMES, VENDORS

__all__ = ["LIST_NAMES", "VENDORS"]
