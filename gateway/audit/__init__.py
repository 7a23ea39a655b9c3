"""The audit log: every committed change and every denied request, append-only in the bucket."""
