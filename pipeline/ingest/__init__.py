"""The ingest service: read a file's headers, extract, record — once, completely."""
