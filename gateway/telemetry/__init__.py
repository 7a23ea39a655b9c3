"""What the gateway tells its operators: request ids, structured logs, metrics."""
