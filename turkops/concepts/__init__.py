"""Concept probabilities from a cheap vision-language model (SigLIP / CLIP via open_clip).

Only `models` and `scoring` import torch; importing this package, `calibration`, `cache` or
`files` does not, so `import turkops` works without the `siglip` extra.
"""
