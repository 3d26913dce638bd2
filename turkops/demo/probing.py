"""A generated probing set: small images of coloured shapes on plain or striped backgrounds.

Every image has known concept labels, so the demo can compare turkops' estimates with the true
correlations over the whole probing set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (50, 80, 220)}
CONCEPTS = (*SHAPES, *COLOURS, "stripes")
SIZE = 32


@dataclass(frozen=True, slots=True)
class ProbingSet:
    pixels: np.ndarray  # (N, SIZE*SIZE*3) float32 in [0, 1]
    labels: np.ndarray  # (N, len(CONCEPTS)) 0/1
    files: list[str]  # relative paths of the PNGs


def generate_probing_set(folder: Path, n_images: int, rng: np.random.Generator) -> ProbingSet:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.empty((n_images, SIZE * SIZE * 3), dtype=np.float32)
    labels = np.zeros((n_images, len(CONCEPTS)), dtype=np.int8)
    files: list[str] = []
    colour_names = list(COLOURS)
    for i in range(n_images):
        shape = int(rng.integers(len(SHAPES)))
        colour = int(rng.integers(len(colour_names)))
        striped = rng.random() < 0.3
        img = _draw(SHAPES[shape], COLOURS[colour_names[colour]], striped, rng)
        name = f"img_{i:04d}.png"
        img.save(folder / name, optimize=True)
        files.append(f"{folder.name}/{name}")
        pixels[i] = np.asarray(img, dtype=np.float32).reshape(-1) / 255.0
        labels[i, shape] = 1
        labels[i, len(SHAPES) + colour] = 1
        labels[i, -1] = int(striped)
    return ProbingSet(pixels, labels, files)


def _draw(
    shape: str, colour: tuple[int, int, int], striped: bool, rng: np.random.Generator
) -> Image.Image:
    grey = int(rng.integers(200, 245))
    img = Image.new("RGB", (SIZE, SIZE), (grey, grey, grey))
    draw = ImageDraw.Draw(img)
    if striped:
        for x in range(0, SIZE, 6):
            draw.rectangle([x, 0, x + 2, SIZE], fill=(120, 120, 120))
    r = int(rng.integers(7, 12))
    cx, cy = (int(v) for v in rng.integers(r + 1, SIZE - r - 1, size=2))
    box = [cx - r, cy - r, cx + r, cy + r]
    jitter = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in colour)
    if shape == "circle":
        draw.ellipse(box, fill=jitter)
    elif shape == "square":
        draw.rectangle(box, fill=jitter)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=jitter)
    return img
