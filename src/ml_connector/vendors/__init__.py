"""Vendor master export: Visma's suppliers as stampli-format.md §4.6 CSV files in Stampli's inbound
folder (docs/vendors.md)."""
