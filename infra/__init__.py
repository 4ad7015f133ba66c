"""The local stack: a PostgreSQL cluster for the STAC API (and later the rest of ``snowdays up``)."""
