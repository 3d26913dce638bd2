"""CLI commands (placeholder, filled in by its owner)."""
