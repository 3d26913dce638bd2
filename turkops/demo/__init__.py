"""`turkops demo`: a small but real study built offline and run end to end."""
