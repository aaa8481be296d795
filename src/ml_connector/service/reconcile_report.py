"""The formats of ``reconcile``'s report (CSV with neutralised cells, JSON, per-outcome totals), for the
entry points: they reach the pipeline's reconciliation only through the service layer."""

from ml_connector.pipeline.reconcile import to_csv, to_json, totals

__all__ = ["to_csv", "to_json", "totals"]
