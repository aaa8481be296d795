"""The invoice image: which file in the ``images/`` folder beside an export belongs to an invoice.

An export may name the file in its ``documentFile`` column (``<DocumentFile>`` in XML); without
one, the convention is ``<stampliInvoiceId>.pdf``. Either way it is a bare file name inside
``images/``: a name that could reach another folder (``../x.pdf``, ``/etc/x``, ``a/b.pdf``,
``C:x.pdf``) is refused where the record is read, so nothing outside that folder is ever fetched.
"""

from __future__ import annotations

import posixpath

IMAGES_FOLDER = "images"
MAX_NAME_CHARS = 255  # what common file systems allow for one name


def image_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a file in the images folder, or None when it can."""
    if not name:
        return "is empty"
    if len(name) > MAX_NAME_CHARS:
        return f"is longer than {MAX_NAME_CHARS} characters"
    if name.startswith(("/", "\\")):
        return "is an absolute path; name a file in the images/ folder beside the export"
    if "/" in name or "\\" in name:
        return "names a folder; only a file name in the images/ folder beside the export is allowed"
    if name in (".", ".."):
        return "is not a file name"
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        return "is a drive path; name a file in the images/ folder beside the export"
    if not name.isprintable():
        return "holds a control character"
    if '"' in name:
        return "holds a double quote, which the upload to Visma cannot carry in a file name"
    return None


def expected_image_name(document_file: str | None, stampli_invoice_id: str | None) -> str | None:
    """The image's file name: the one the export names, else ``<stampliInvoiceId>.pdf``; None when
    the record gives neither (or the id could not be a file name)."""
    if document_file:
        return document_file
    if stampli_invoice_id:
        name = f"{stampli_invoice_id}.pdf"
        return name if image_name_problem(name) is None else None
    return None


def images_folder(export_path: str) -> str:
    """The remote ``images/`` folder beside an export file."""
    return posixpath.join(posixpath.dirname(export_path), IMAGES_FOLDER)
