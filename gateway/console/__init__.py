"""The web console at `/console/` (docs/console.md): static assets built from `console/` and served by the gateway.

The console is a client of the public HTTP API like any other; nothing here reaches a service or the bucket.
"""
