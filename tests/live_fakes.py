"""Fakes at the live worker's ports: a LiveTranscriber with the contract's interface (pipeline.live) that finds
utterances by loudness instead of a model, and a ticket extractor that counts the caller's turns. Not a conftest,
like `service_fakes`."""

import threading

import numpy as np

from models import CallMeta, CallTranscript, Ticket, TicketField, Turn, Word

BLOCK_S = 0.01
LOUD = 1000
"""A 10 ms block whose peak passes this is speech."""
SILENCE_S = 0.3
"""Silence that closes an utterance."""


class FakeLiveTranscriber:
    """Utterances are loud stretches of a channel, closed by `SILENCE_S` of quiet; each turn's text names its channel
    and first sample. Like the real one: resumes from `checkpoint()` at `committed_sample` (blocks stay aligned to
    the call's start) and emits each utterance once across a restart. `gate`, when given, is waited on before each
    chunk is taken (a test holds a worker inside a call with it)."""

    def __init__(self, fmt, meta: CallMeta, start_sample: int = 0, state: dict | None = None, gate=None):
        self.rate, self.channels = fmt.sample_rate, fmt.channels
        self.roles = {int(channel): role for channel, role in fmt.channel_map.items()}
        self.meta = meta
        self.block = int(self.rate * BLOCK_S)
        self.position = start_sample  # samples processed (per channel)
        self.carry = np.zeros((0, self.channels), dtype=np.int16)
        self.open: dict[int, tuple[int, int]] = {}  # channel → (first sample, end of the last loud block)
        self.emitted_until = {int(k): v for k, v in (state or {}).get("emitted_until", {}).items()}
        self.turns: list[Turn] = []
        self.gate = gate
        self.fed_chunks = 0

    def feed(self, pcm: np.ndarray) -> list[Turn]:
        if self.gate is not None:
            self.gate(self)
        self.fed_chunks += 1
        pcm = np.asarray(pcm, dtype=np.int16).reshape(len(pcm), -1)
        assert pcm.shape[1] == self.channels
        pending = np.concatenate([self.carry, pcm])
        whole = len(pending) // self.block * self.block
        self.carry = pending[whole:]
        closed = []
        for start in range(0, whole, self.block):
            block = pending[start : start + self.block]
            first = self.position
            self.position += self.block
            for channel in range(self.channels):
                loud = int(np.abs(block[:, channel].astype(np.int32)).max()) > LOUD
                if loud:
                    opened = self.open.get(channel, (first, first))[0]
                    self.open[channel] = (opened, self.position)
                elif channel in self.open and self.position - self.open[channel][1] >= SILENCE_S * self.rate:
                    closed += self._close(channel)
        return closed

    def finish(self) -> list[Turn]:
        return [turn for channel in list(self.open) for turn in self._close(channel)]

    def _close(self, channel: int) -> list[Turn]:
        first, end = self.open.pop(channel)
        if first < self.emitted_until.get(channel, 0):
            return []  # emitted before the restart this run resumed from
        self.emitted_until[channel] = end
        start_s, end_s = first / self.rate, end / self.rate
        text = f"ch{channel}@{first}"
        role = self.roles.get(channel, "caller" if channel else "operator")
        turn = Turn(
            role, f"SPEAKER_{channel:02d}", channel, start_s, end_s, text, 0.9, [Word(start_s, end_s, text, 0.9)]
        )
        self.turns.append(turn)
        return [turn]

    @property
    def committed_sample(self) -> int:
        opened = [first for first, _ in self.open.values()]
        return min([*opened, self.position])

    def checkpoint(self) -> dict:
        return {"committed_sample": self.committed_sample, "emitted_until": self.emitted_until}

    def transcript(self, earlier: list[Turn] | None = None) -> CallTranscript:
        rate = self.rate
        by_id = {(turn.channel, round(turn.start * rate)): turn for turn in [*(earlier or []), *self.turns]}
        return CallTranscript(
            call_id=self.meta.call_id,
            duration=self.position / self.rate,
            sample_rate=self.rate,
            channels=self.channels,
            language="zh",
            model="fake-live",
            turns=sorted(by_id.values(), key=lambda turn: (turn.start, turn.channel or 0)),
        )


class FakeTranscribers:
    """The worker's `open_transcriber` port over `FakeLiveTranscriber`, remembering each one it opened and where
    it started."""

    def __init__(self, gate=None):
        self.gate = gate
        self.opened: list[tuple[str, int]] = []
        self.instances: list[FakeLiveTranscriber] = []
        self.lock = threading.Lock()

    def __call__(self, fmt, meta, start_sample, state):
        transcriber = FakeLiveTranscriber(fmt, meta, start_sample, state, gate=self.gate)
        with self.lock:
            self.opened.append((meta.call_id, start_sample))
            self.instances.append(transcriber)
        return transcriber


class CountingExtractor:
    """A ticket whose summary counts the caller's turns."""

    def __init__(self):
        self.calls = 0

    def extract(self, transcript: CallTranscript, meta: CallMeta) -> Ticket:
        self.calls += 1
        ticket = Ticket.empty()
        callers = sum(turn.role == "caller" for turn in transcript.turns)
        ticket.fields["summary"] = TicketField(f"{callers} caller turns", 0.9)
        ticket.review = "auto"
        return ticket
