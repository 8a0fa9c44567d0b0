"""Background work run by RQ workers: job functions are importable by dotted path."""
