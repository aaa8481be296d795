"""``inspect``: what the readers make of local export files (documents, rejected records, issues), for
the command line to print as it reads. Only names: reading is ``stampli/``'s, JSON shapes ``domain/``'s."""

from ml_connector.domain.documents import Invoice, Payment, invoice_json, payment_json
from ml_connector.domain.issues import Issue, error
from ml_connector.stampli.errors import FileRejected
from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderProfile
from ml_connector.stampli.read import ReadResult, RejectedRecord, iter_export, read_export

__all__ = [
    "BUILTIN_PROFILES",
    "FileRejected",
    "Invoice",
    "Issue",
    "Payment",
    "ReadResult",
    "ReaderProfile",
    "RejectedRecord",
    "error",
    "invoice_json",
    "iter_export",
    "payment_json",
    "read_export",
]
