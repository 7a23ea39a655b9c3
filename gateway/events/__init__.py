"""Committed changes told to others: the event feed (`GET /v1/events`) and signed webhooks."""
