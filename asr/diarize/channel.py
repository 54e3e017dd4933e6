"""Stereo recordings: each channel is one party, so diarization is exact."""

from pyannote.core import Annotation
from pyannote.core import Segment as Span

from asr.diarize.base import DiarizationResult, speaker_label
from models import Audio, SpeechSpan


class ChannelDiarizer:
    """`Diarizer` for dual-channel recordings: the speaker of a span is its channel."""

    name = "channel"

    def diarize(self, audio: Audio, speech: list[SpeechSpan]) -> DiarizationResult:
        annotation = Annotation()
        for index, span in enumerate(speech):
            annotation[Span(span.start, span.end), index] = speaker_label(span.channel)
        labels = {channel: speaker_label(channel) for channel in range(len(audio.channels))}
        return DiarizationResult(annotation, self.name, by_channel=True, channel_labels=labels)
