"""The pyannote.audio backend, run for real on a tiny random-weight pipeline built offline.

Random weights cannot tell voices apart, so the assertions are on invariants: the result's type,
backend, label names, timeline and embeddings, and that the pipeline is loaded once per process.
"""

import re
import sys

import numpy as np
import pytest

pytest.importorskip("pyannote.audio", reason="needs the optional extra: pip install -e '.[pyannote]'")

from asr.diarize import pyannote_backend
from asr.diarize.base import DiarizationResult
from asr.diarize.pyannote_backend import PyannoteDiarizer
from models import Audio, ModelLoadError, SpeechSpan

pytestmark = [
    pytest.mark.pyannote,
    # Random weights: clusters can come out empty and pyannote then averages nothing, or finds
    # fewer speakers than asked for.
    pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:\\s*The detected number of speakers:UserWarning"),
]

SAMPLE_RATE = 16000
DURATION_S = 10.0


@pytest.fixture(scope="module")
def pipeline_config(tmp_path_factory):
    """A pyannote SpeakerDiarization config.yaml in community-1's layout, with random weights:
    a tiny PyanNet powerset segmentation model, an x-vector embedding model and a random PLDA."""
    import lightning
    import torch
    import yaml
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorSincNet
    from pyannote.audio.models.segmentation import PyanNet

    root = tmp_path_factory.mktemp("pyannote-pipeline")
    torch.manual_seed(0)
    chunk_s = 3.0

    segmentation = PyanNet(lstm={"hidden_size": 16, "num_layers": 1}, linear={"hidden_size": 16})
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=chunk_s,
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    _save_checkpoint(segmentation, root / "segmentation", lightning.__version__)

    dimension = 32
    embedding = XVectorSincNet(dimension=dimension)
    embedding.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=chunk_s
    )
    _save_checkpoint(embedding, root / "embedding", lightning.__version__)

    rng = np.random.default_rng(0)
    lda_dimension = 16
    (root / "plda").mkdir()
    np.savez(
        root / "plda" / "xvec_transform.npz",
        mean1=rng.normal(size=dimension),
        mean2=0.1 * rng.normal(size=lda_dimension),
        lda=np.linalg.qr(rng.normal(size=(dimension, dimension)))[0][:, :lda_dimension],
    )
    np.savez(
        root / "plda" / "plda.npz",
        mu=np.zeros(lda_dimension),
        tr=np.eye(lda_dimension),
        psi=np.linspace(2.0, 0.1, lda_dimension),
    )

    config = {
        "pipeline": {
            "name": "pyannote.audio.pipelines.SpeakerDiarization",
            "params": {
                # "$model/…" is resolved against the config's folder, as in a hub snapshot.
                "segmentation": "$model/segmentation",
                "embedding": "$model/embedding",
                "plda": "$model/plda",
                "clustering": "AgglomerativeClustering",
                "segmentation_step": 0.5,
                "segmentation_batch_size": 8,
                "embedding_batch_size": 8,
            },
        },
        "params": {
            "segmentation": {"min_duration_off": 0.0},
            "clustering": {"method": "centroid", "min_cluster_size": 2, "threshold": 0.7},
        },
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _save_checkpoint(model, folder, lightning_version):
    """Write a checkpoint the way Lightning's trainer does, which `Model.from_pretrained` reads."""
    import torch

    model.build()
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning_version,
    }
    model.on_save_checkpoint(checkpoint)  # adds pyannote.audio's versions, architecture, specs
    folder.mkdir()
    torch.save(checkpoint, folder / "pytorch_model.bin")


@pytest.fixture(scope="module")
def two_voices() -> Audio:
    """10 s: a 140 Hz buzz with tremolo, a pause, then a harsher 230 Hz square wave with noise."""
    rng = np.random.default_rng(1)
    t = np.arange(int(DURATION_S * SAMPLE_RATE)) / SAMPLE_RATE
    first = 0.3 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    second = 0.3 * np.sign(np.sin(2 * np.pi * 230 * t)) * rng.uniform(0.5, 1.0, len(t))
    samples = np.where(t < 5.0, first, second)
    samples[(t > 4.6) & (t < 5.2)] = 0.0
    return Audio([samples.astype(np.float32)], SAMPLE_RATE, SAMPLE_RATE, 1, "pcm_s16le")


SPEECH = [SpeechSpan(0.0, 4.6), SpeechSpan(5.2, DURATION_S)]


def test_diarizes_in_memory_audio(pipeline_config, two_voices):
    result = PyannoteDiarizer(pipeline_config, num_speakers=2).diarize(two_voices, SPEECH)

    assert isinstance(result, DiarizationResult)
    assert result.backend == PyannoteDiarizer.name == "pyannote"
    assert not result.by_channel
    labels = result.annotation.labels()
    assert labels
    assert all(re.fullmatch(r"SPEAKER_\d\d", label) for label in labels)
    first_seen = list(dict.fromkeys(label for _, _, label in result.annotation.itertracks(yield_label=True)))
    assert first_seen == [f"SPEAKER_{index:02d}" for index in range(len(first_seen))]
    for segment in result.annotation.itersegments():
        assert 0.0 <= segment.start < segment.end <= two_voices.duration + 1e-6
    assert set(result.embeddings) <= set(labels)
    for vector in result.embeddings.values():
        assert vector.shape == (32,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_loads_the_pipeline_once(pipeline_config, two_voices, monkeypatch):
    from pyannote.audio import Pipeline

    calls = []
    original = Pipeline.from_pretrained

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(Pipeline, "from_pretrained", counting)
    pyannote_backend._load_pipeline.cache_clear()
    for _ in range(2):
        PyannoteDiarizer(pipeline_config).diarize(two_voices, SPEECH)
    assert len(calls) == 1


def test_no_speech_gives_an_empty_result(pipeline_config, two_voices):
    result = PyannoteDiarizer(pipeline_config).diarize(two_voices, [])
    assert result.backend == "pyannote"
    assert len(result.annotation) == 0


def test_missing_config_raises_model_load_error(tmp_path, two_voices):
    with pytest.raises(ModelLoadError, match="config not found"):
        PyannoteDiarizer(tmp_path / "absent" / "config.yaml").diarize(two_voices, SPEECH)


def test_invalid_config_raises_model_load_error(tmp_path, two_voices):
    config = tmp_path / "config.yaml"
    config.write_text("pipeline: {name: no.such.module.Pipeline}\n")
    with pytest.raises(ModelLoadError, match="cannot load the pyannote pipeline"):
        PyannoteDiarizer(config).diarize(two_voices, SPEECH)


def test_without_pyannote_audio_says_what_to_install(tmp_path, two_voices, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)
    with pytest.raises(ModelLoadError, match=re.escape("pip install -e '.[pyannote]'")):
        PyannoteDiarizer(tmp_path / "config.yaml").diarize(two_voices, SPEECH)
