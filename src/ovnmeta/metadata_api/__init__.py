"""The embedded Nova-compatible metadata API and its SQLite instance store."""
