"""The gateway as an MCP server for agents: `POST /mcp` (Streamable HTTP, stateless, JSON answers).

Every tool authenticates with the same bearer token as the HTTP API and calls the same services through the same
access resolution (`gateway.api.context`): a tool reaches exactly what the matching route reaches, and fails the
same way. Failures are MCP tool errors carrying the route's problem document (see docs/mcp.md).
"""
