"""Storage quotas: limits, the usage ledger in the bucket, and admission of writes."""
