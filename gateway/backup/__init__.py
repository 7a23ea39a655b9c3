"""Backups of the files worth keeping (persistent and permanent tiers) to a second bucket, on any S3 endpoint, and
their verification and restore (docs/recovery.md)."""
