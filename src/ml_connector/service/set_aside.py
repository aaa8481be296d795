"""Setting rejected files aside (``replay ID --set-aside``, the dashboard's Failures page): the
operator's other answer to a file rejected as a whole, next to reading it again (``replay``)."""

from __future__ import annotations

from ml_connector.pipeline.replay import SetAsideResult, set_aside
from ml_connector.service.app import App


def set_aside_failures(
    app: App, ids: list[int], *, actor: str, connection: str | None = None
) -> SetAsideResult:
    """Set aside the rejected files of these failures: not read again, their failures closed."""
    total = SetAsideResult()
    open_ids = {f.id for f in app.ledger.open_failures(connection)}
    for rt in app.runtimes(connection, actor=actor):
        res = set_aside(rt, [i for i in ids if i in open_ids], actor=actor)
        total.files += res.files
        total.refused += [r for r in res.refused if "no open failure with this id" not in r]
    for fid in ids:
        if fid not in open_ids:
            total.refused.append(f"{fid}: no open failure with this id")
    return total
