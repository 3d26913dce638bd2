"""A tiny randomly initialised open_clip model, saved as checkpoints, and a few image files.

The config uses open_clip's own ViT and text transformer with SimpleTokenizer (no HF tokenizer,
so it works offline) and a logit_bias, which makes it SigLIP-like for calibration purposes.
Its name must not contain "siglip": open_clip would then pick a SigLIP tokenizer that downloads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TINY_NAME = "turkops-tiny-test"
TINY_CONFIG = {
    "embed_dim": 32,
    "init_logit_bias": -1.0,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16,
                   "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                 "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from turkops.concepts.models import register_model_config

    path = tmp_path_factory.mktemp("open_clip_configs") / f"{TINY_NAME}.json"
    path.write_text(json.dumps(TINY_CONFIG))
    assert register_model_config(path) == TINY_NAME
    return path


@pytest.fixture(scope="session")
def tiny_checkpoints(tiny_config: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> dict[str, Path]:
    """The same random weights as .safetensors and .pt (state dict), as users would have."""
    import torch
    from safetensors.torch import save_file

    from turkops.concepts.models import import_open_clip

    torch.manual_seed(0)
    model = import_open_clip().create_model(TINY_NAME)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    out = tmp_path_factory.mktemp("checkpoints")
    save_file(state, str(out / "open_clip_model.safetensors"))
    torch.save(state, out / "tiny.pt")
    return {"safetensors": out / "open_clip_model.safetensors", "pt": out / "tiny.pt"}


@pytest.fixture
def make_images(tmp_path: Path) -> Callable[[int], list[tuple[str, Path]]]:
    """n small images of varied sizes and modes (JPEG RGB, PNG RGBA, PNG L) as (sha256, path)."""
    from turkops.concepts.files import sha256_file

    def make(n: int) -> list[tuple[str, Path]]:
        rng = np.random.default_rng(n)
        folder = tmp_path / f"images{n}"
        folder.mkdir()
        out = []
        for i in range(n):
            h, w = int(rng.integers(24, 60)), int(rng.integers(24, 60))
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            if i % 3 == 0:
                path = folder / f"img{i}.jpg"
                Image.fromarray(pixels).save(path, quality=90)
            elif i % 3 == 1:
                path = folder / f"img{i}.png"
                alpha = np.full((h, w, 1), 200, dtype=np.uint8)
                Image.fromarray(np.concatenate([pixels, alpha], axis=2), "RGBA").save(path)
            else:
                path = folder / f"img{i}.png"
                Image.fromarray(pixels[..., 0], "L").save(path)
            out.append((sha256_file(path), path))
        return out

    return make
