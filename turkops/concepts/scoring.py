"""Encoding images and concept texts with an open_clip model, and scoring every pair.

The image side (batched decoding, device pipelining, the resumable cache, sharding across
torchrun ranks) is the shared engine in turkops.concepts.encoding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from turkops.concepts.cache import EmbeddingCache
from turkops.concepts.calibration import Calibration, apply_calibration
from turkops.concepts.encoding import (  # noqa: F401  (re-exported: callers import them here)
    ImageEmbeddings,
    ImageEncoder,
    Progress,
    default_workers,
    split_preprocess,
)
from turkops.domain import InputError

logger = logging.getLogger(__name__)

DEFAULT_PROMPTS: tuple[str, ...] = ("{}",)  # raw concept text, as the published calibration


@dataclass(frozen=True, slots=True)
class ConceptScores:
    """probs and cosine: (n_images, n_concepts) float32; probs in [0, 1]."""

    sha256: tuple[str, ...]
    concepts: tuple[str, ...]
    probs: NDArray[np.float32]
    cosine: NDArray[np.float32]
    calibration: Calibration
    n_encoded: int
    n_cached: int
    encode_seconds: float


def check_prompts(prompts: Sequence[str]) -> tuple[str, ...]:
    if not prompts:
        raise InputError("at least one prompt template is needed (the default is '{}')")
    for p in prompts:
        if "{}" not in p:
            raise InputError(f"prompt template {p!r} has no '{{}}' where the concept goes")
    return tuple(prompts)


class SiglipScorer(ImageEncoder):
    """Scores (image, concept) pairs with an open_clip model (SigLIP or CLIP).

    model: an open_clip CLIP/CustomTextCLIP in eval mode on `device`; preprocess: its eval
    image transform; tokenizer: list[str] -> (n, context) token tensor.
    precision "bf16" runs under bf16 autocast (CUDA or CPU); "fp32" runs plain fp32.
    Image embeddings (ImageEncoder.embed_images) are L2-normalised.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Callable[[Any], torch.Tensor],
        tokenizer: Callable[..., torch.Tensor],
        *,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        compile: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__(preprocess, device=device, precision=precision, compile=compile,
                         channels_last=channels_last)
        self.model = model
        self.tokenizer = tokenizer
        visual: Callable[[torch.Tensor], torch.Tensor] = model.visual  # type: ignore[assignment]
        self._visual = torch.compile(visual) if compile else visual

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self._visual(x)

    def _finish(self, feats: torch.Tensor) -> torch.Tensor:
        return F.normalize(feats, dim=-1)

    # -- texts ---------------------------------------------------------------------------------

    def encode_texts(self, concepts: Sequence[str], prompts: Sequence[str] = DEFAULT_PROMPTS,
                     *, batch_size: int = 256) -> NDArray[np.float32]:
        """(n_concepts, d) float32: per template normalise, average over templates, renormalise.

        Templates put the concept where '{}' is (str.replace, so braces in concepts are safe).
        """
        templates = check_prompts(prompts)
        if not concepts:
            raise InputError("no concepts to score")
        total: torch.Tensor | None = None
        for template in templates:
            texts = [template.replace("{}", c) for c in concepts]
            parts = []
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(texts[start:start + batch_size]).to(self.device)
                with torch.inference_mode(), self._autocast():
                    feats = self.model.encode_text(tokens)  # type: ignore[operator]
                parts.append(F.normalize(feats.float(), dim=-1))
            emb = torch.cat(parts)
            total = emb if total is None else total + emb
        assert total is not None
        return F.normalize(total / len(templates), dim=-1).cpu().numpy()

    # -- both ----------------------------------------------------------------------------------

    def score(
        self,
        images: Sequence[tuple[str, Path]],
        concepts: Sequence[str],
        cache: EmbeddingCache | None,
        *,
        calibration: Calibration,
        batch_size: int = 64,
        workers: int = 0,
        prompts: Sequence[str] = DEFAULT_PROMPTS,
        progress: Progress | None = None,
        chunk_size: int = 4096,
    ) -> ConceptScores:
        """Probability that each concept is present in each image.

        images: (sha256, path) pairs; concepts: texts (scored once each, order kept).
        Returns probs = sigmoid(a * (cos + b)) with cos = <img, txt> of L2-normalised embeddings.
        """
        check_prompts(prompts)
        if not concepts:
            raise InputError("no concepts to score")
        if len(set(concepts)) != len(concepts):
            raise InputError("concepts must be distinct (each is scored once)")
        img = self.embed_images(images, cache, batch_size=batch_size, workers=workers,
                                progress=progress, chunk_size=chunk_size)
        txt = self.encode_texts(concepts, prompts)
        cosine = (img.embeddings @ txt.T).astype(np.float32)
        return ConceptScores(
            sha256=img.sha256,
            concepts=tuple(concepts),
            probs=apply_calibration(cosine, calibration),
            cosine=cosine,
            calibration=calibration,
            n_encoded=img.n_encoded,
            n_cached=img.n_cached,
            encode_seconds=img.encode_seconds,
        )
