"""ml-connector: Stampli approved invoices and payments into Visma.net ERP, exactly once."""

import warnings

# asyncssh names DSA key types at import, and cryptography >= 47 warns about DSA on every start;
# the connector never offers or accepts DSA keys, so the warning tells a user nothing.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh(\.|$)")

__version__ = "0.1.0"
__all__ = ["__version__"]
