"""The on-disk embedding cache: keyed directories, atomic chunks, flush on interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from turkops.concepts.cache import CacheKey, EmbeddingCache
from turkops.domain import DataIntegrityError

KEY = CacheKey("ViT-L-16-SigLIP-384", "sha256:" + "ab" * 32, "bf16", '{"size": 384}')


def _embs(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_add_and_lookup(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, KEY)
    empty = cache.lookup(["a", "b"])
    assert not empty.found.any() and empty.embeddings is None
    e = _embs(3)
    cache.add(["a", "b", "c"], e)
    hit = cache.lookup(["c", "x", "a", "a"])
    assert hit.found.tolist() == [True, False, True, True]
    assert hit.embeddings is not None
    np.testing.assert_array_equal(hit.embeddings[[0, 2, 3]], e[[2, 0, 0]])
    assert not hit.embeddings[1].any()
    assert len(cache) == 3
    # Only finished chunks and the key are left behind: nothing temporary.
    names = sorted(p.name for p in cache.directory.iterdir())
    assert names[-1] == "key.json" and all(n.startswith("chunk-") for n in names[:-1])


def test_keys_separate_models_precisions_and_preprocessing(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path, KEY).add(["a"], _embs(1))
    for other in (
        CacheKey(KEY.model_name, "sha256:" + "cd" * 32, KEY.precision, KEY.preprocess),
        CacheKey(KEY.model_name, KEY.weights, "fp32", KEY.preprocess),
        CacheKey(KEY.model_name, KEY.weights, KEY.precision, '{"size": 256}'),
        CacheKey("ViT-SO400M-14-SigLIP-384", KEY.weights, KEY.precision, KEY.preprocess),
    ):
        assert not EmbeddingCache(tmp_path, other).lookup(["a"]).found.any()


def test_writer_flushes_by_size_and_on_exception(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, KEY)
    e = _embs(10)
    with pytest.raises(KeyboardInterrupt), cache.writer(chunk_size=4) as w:
        for i in range(7):
            w.append([f"s{i}"], e[i:i + 1])
        assert len(list(cache.directory.glob("chunk-*.npz"))) == 1  # the first 4
        raise KeyboardInterrupt
    # The 3 pending ones were written on the way out.
    assert cache.lookup([f"s{i}" for i in range(7)]).found.all()


def test_compact_merges_and_deduplicates(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, KEY)
    e = _embs(6)
    cache.add(["a", "b"], e[:2])
    cache.add(["b", "c"], e[1:3])
    cache.add(["d"], e[3:4])
    assert cache.compact() == 3
    files = list(cache.directory.glob("chunk-*.npz"))
    assert len(files) == 1
    with np.load(files[0]) as data:
        assert sorted(data["sha256"].tolist()) == ["a", "b", "c", "d"]
    hit = cache.lookup(["d", "a"])
    assert hit.embeddings is not None
    np.testing.assert_array_equal(hit.embeddings, e[[3, 0]])


def test_unreadable_chunk_is_ignored_and_foreign_key_refused(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, KEY)
    cache.add(["a"], _embs(1))
    (cache.directory / "chunk-0-broken.npz").write_bytes(b"not a zip")
    assert cache.lookup(["a"]).found.all()
    (cache.directory / "key.json").write_text('{"model_name": "other"}')
    with pytest.raises(DataIntegrityError, match="another model"):
        cache.add(["b"], _embs(1))
