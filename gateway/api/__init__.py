"""The HTTP API: the Starlette app, handlers, models, problems and the OpenAPI document."""
