"""`hotline enroll`: an operator's voiceprint, to tell the operator from the caller on mono calls."""

from pathlib import Path
from typing import Annotated

import typer

from models import HotlineError
from pipeline.cli.common import err, fail


def enroll(
    agent_id: Annotated[str, typer.Argument(help="the operator's agent id, as the telephony system sends it")],
    audio: Annotated[list[Path], typer.Argument(help="recordings of this operator alone (or stereo calls)")],
    channel: Annotated[int | None, typer.Option(help="use this channel of stereo recordings (the operator's)")] = None,
) -> None:
    """Enroll an operator's voiceprint, used to tell the operator from the caller on mono calls."""
    from asr.diarize.embedding import ResemblyzerEncoder
    from asr.vad import WebrtcSpeechDetector
    from asr.voiceprints import VoiceprintStore, voiceprint_from_recordings
    from pipeline.settings import Settings

    settings = Settings()
    encoder = ResemblyzerEncoder()
    detector = WebrtcSpeechDetector()
    try:
        store = VoiceprintStore(settings.voiceprint_dir)
        store.load(agent_id)  # validates the id before any work
        voiceprint = voiceprint_from_recordings(audio, encoder, detector, channel)
        saved = store.save(agent_id, voiceprint, [p.name for p in audio])
    except HotlineError as error:
        fail(error)
    err.print(f"enrolled agent {agent_id} from {len(audio)} recording(s): {saved}", highlight=False)
