"""Prefect flows: they sequence the tasks over the snowdays library and hold no domain logic."""
