"""adapters/sftp."""
