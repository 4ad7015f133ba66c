"""Arrival sources: how the watcher learns that products landed in the archive.

Each source yields the products it finds as ``(href, ProductId)`` pairs, identified by their names
(:func:`snowdays.archive.identify`), for the caller to announce (``flows.watch`` emits a Prefect event
per product). Announcing only wakes the pipeline up, so a source may yield a product twice:

- :mod:`snowdays.arrivals.listing`: the archive's listing (the sweep for what no store has folded, and
  a look every few seconds at a local archive);
- :mod:`snowdays.arrivals.sqs`: the archive bucket's S3 notifications, through an SQS queue;
- :mod:`snowdays.arrivals.stac_search`: a STAC API in the style of CNES GEODES, searched for the
  watched tiles, whose new products are downloaded into the archive;
- :mod:`snowdays.arrivals.watcher`: the one of them the settings choose, until stopped.

No orchestration is imported here: the sources run and are tested without Prefect.
"""
