"""Retry policy for a network whose reconcile failed (pure)."""

from __future__ import annotations

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0


def next_delay(attempt: int) -> float:
    """Exponential, capped: 0.5, 1, 2, ... 30 s. `attempt` counts failures, from 1."""
    return min(FIRST_DELAY_S * 2 ** max(attempt - 1, 0), MAX_DELAY_S)
