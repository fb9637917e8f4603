"""Pure planning: plan(desired spec, observed host state) -> typed actions."""
