"""Tiny randomly initialised torchvision / timm / open_clip models saved as weights files, and
an inputs.csv of small images (JPEG RGB, PNG RGBA, PNG greyscale)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.concepts.conftest import tiny_checkpoints, tiny_config  # noqa: F401  (fixtures)

MakeInputs = Callable[[int], Path]


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def resnet18_weights(weights_dir: Path) -> Path:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    path = weights_dir / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def timm_vit_weights(weights_dir: Path) -> Path:
    """timm's own test_vit (160 px, 6 blocks of width 64, one class token), as .safetensors."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False)
    path = weights_dir / "test_vit.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture
def make_inputs(tmp_path: Path) -> MakeInputs:
    """inputs.csv (input_id,image) of n small images in varied sizes and modes."""

    def make(n: int) -> Path:
        rng = np.random.default_rng(n)
        folder = tmp_path / f"images{n}"
        folder.mkdir()
        rows = []
        for i in range(n):
            h, w = int(rng.integers(24, 60)), int(rng.integers(24, 60))
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            if i % 3 == 0:
                name = f"img{i}.jpg"
                Image.fromarray(pixels).save(folder / name, quality=90)
            elif i % 3 == 1:
                name = f"img{i}.png"
                alpha = np.full((h, w, 1), 200, dtype=np.uint8)
                Image.fromarray(np.concatenate([pixels, alpha], axis=2), "RGBA").save(
                    folder / name)
            else:
                name = f"img{i}.png"
                Image.fromarray(pixels[..., 0], "L").save(folder / name)
            rows.append(f"in{i},{folder.name}/{name}")
        csv = tmp_path / f"inputs{n}.csv"
        csv.write_text("input_id,image\n" + "\n".join(rows) + "\n")
        return csv

    return make


def image_paths(csv: Path) -> list[Path]:
    lines = csv.read_text().splitlines()[1:]
    return [csv.parent / line.split(",", 1)[1] for line in lines]
