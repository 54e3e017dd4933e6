"""Speech: audio decoding, voice activity, Whisper transcription, guards, diarization, speaker turns,
operator voiceprints and roles."""
