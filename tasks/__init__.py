"""Prefect tasks: thin wrappers over snowdays with retries, concurrency, logging and artifacts."""
