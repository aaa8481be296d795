"""JSON in and out of the simulator with exact money: the product's own encoder
(``ml_connector.exact_json``), so the simulator writes amounts exactly as the client does."""

from ml_connector.exact_json import dumps, loads

__all__ = ["dumps", "loads"]
