"""Southbound: rows -> model (pure), the local index (pure), desired specs (pure), and the
ovsdbapp client and events (I/O)."""
