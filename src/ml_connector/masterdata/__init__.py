"""Coding-list export: Visma's GL accounts, cost centers, projects, VAT codes and credit terms as one
CSV file per list in Stampli's inbound folder (docs/masterdata.md). Suppliers: ml_connector.vendors."""
