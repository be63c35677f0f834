"""Background jobs (RQ): price refresh cycles and portfolio recomputes.

Jobs are module-level functions taking ids, enqueued by dotted name, and safe to
run twice or concurrently.
"""
