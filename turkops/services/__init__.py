"""Use cases: each function takes a Runtime (and plain values) and returns plain values."""
