"""Session Gateway: session files on a versioned S3 bucket, isolated by JWT-scoped key prefixes."""

from __future__ import annotations

__version__ = "0.1.0"
