"""Built-in provider simulator: serves the providers' wire protocols with deterministic text,
realistic usage counts, configurable latency and fault injection."""
