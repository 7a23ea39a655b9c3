"""The S3 side: the store adapter, streaming uploads, versioned writes, tags."""
