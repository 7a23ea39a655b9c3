"""Running the gateway as a service: the per-token rate limit, shutdown, and how `serve` runs uvicorn."""
