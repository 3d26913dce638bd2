"""Activations of a vision model's layer on the probing images (torch imported only in
`models` and `extract`; `spec` is plain Python so the CLI can check options first)."""
