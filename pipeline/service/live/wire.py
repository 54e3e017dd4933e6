"""The live calls' Redis wire format, shared by the API (which appends audio) and the live workers (which read it).

Keys (prefix `hotline:live:`):

    calls                 stream: one entry {call_id} per started call; consumer group `live-workers`. A worker
                          owns an entry (XREADGROUP) until the call is finalised, then XACKs it; it refreshes its
                          claim (XCLAIM … JUSTID) while it works, so an entry idle longer than the live lease belongs
                          to a dead worker and another takes it over (XAUTOCLAIM).
    {call_id}:meta        hash: meta (CallMeta JSON), format (AudioFormat JSON), acked_seq (last appended frame,
                          0 before the first), state (open | ended | abandoned), next_sample (samples per channel
                          appended so far), last_seen (Redis time of the last frame or connection, seconds),
                          opened_at (Redis time of the start frame, seconds)
    {call_id}:audio       stream: {seq, sample, pcm} per accepted frame (pcm: int16 little-endian, interleaved when
                          stereo; sample: the frame's first sample per channel), then one {kind: end, reason}
    {call_id}:events      stream: {type: turn | ticket | final, data: JSON, at: Unix time} published by the worker
    {call_id}:checkpoint  string: the worker's LiveTranscriber.checkpoint() JSON, written after each saved turn

Exactly once: a frame is appended only when its sequence number is acked_seq + 1, by a Lua script that checks,
appends and moves acked_seq in one step (`APPEND`); a frame at or below acked_seq is acknowledged again and not
appended, so a client that resends after a dropped connection doubles nothing. Only one end entry is ever
written (`END` checks the state in the same step), whether the client hung up or a worker found the call idle.

At most real time: a call's audio may run ahead of the time since its start frame by `max_lead_s` (a PBX that
connects late sends what it buffered; a resume resends what was not acknowledged), no further. `APPEND` answers
`AHEAD` with how long to wait instead of appending, and the API waits before it takes the frame, reading nothing
meanwhile; so a client that floods a call fills Redis at the speed of speech, not of the network.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from asr.g711 import BYTES_PER_SAMPLE, Encoding
from models import CallMeta

PREFIX = "hotline:live:"
CALLS = PREFIX + "calls"
GROUP = "live-workers"

SAMPLE_RATES = (8000, 16000)
MAX_CHANNELS = 2
END_REASONS = ("hangup", "abandoned")


def meta_key(call_id: str) -> str:
    return f"{PREFIX}{call_id}:meta"


def audio_key(call_id: str) -> str:
    return f"{PREFIX}{call_id}:audio"


def events_key(call_id: str) -> str:
    return f"{PREFIX}{call_id}:events"


def checkpoint_key(call_id: str) -> str:
    return f"{PREFIX}{call_id}:checkpoint"


def call_keys(call_id: str) -> tuple[str, ...]:
    return meta_key(call_id), audio_key(call_id), events_key(call_id), checkpoint_key(call_id)


@dataclass(frozen=True)
class AudioFormat:
    """How a live call's audio comes: its encoding on the wire, sample rate, channels (interleaved), and which
    channel is which party ({"0": "agent", "1": "caller"}; empty: mono, or roles unknown)."""

    encoding: Encoding
    sample_rate: int
    channels: int
    channel_map: dict[str, str] = field(default_factory=dict)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample of every channel on the wire: audio in a frame is a whole number of these."""
        return BYTES_PER_SAMPLE[self.encoding] * self.channels

    def to_json(self) -> str:
        return json.dumps(
            {
                "encoding": self.encoding,
                "sample_rate": self.sample_rate,
                "channels": self.channels,
                "channel_map": self.channel_map,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "AudioFormat":
        data = json.loads(text)
        return cls(data["encoding"], int(data["sample_rate"]), int(data["channels"]), dict(data["channel_map"]))


def meta_to_json(meta: CallMeta) -> str:
    return json.dumps(
        {
            "call_id": meta.call_id,
            "caller_number": meta.caller_number,
            "agent_id": meta.agent_id,
            "started_at": meta.started_at.isoformat() if meta.started_at else None,
            "channel_map": meta.channel_map,
        }
    )


def meta_from_json(text: str | bytes) -> CallMeta:
    data = json.loads(text)
    started = data.get("started_at")
    return CallMeta(
        call_id=data["call_id"],
        caller_number=data.get("caller_number"),
        agent_id=data.get("agent_id"),
        started_at=datetime.fromisoformat(started) if started else None,
        channel_map=dict(data.get("channel_map") or {}),
    )


class Appended(IntEnum):
    """What `APPEND` did with a frame."""

    APPENDED = 1
    DUPLICATE = 0  # at or below acked_seq: acknowledged again, not appended
    CLOSED = -1  # the call has ended (or was abandoned): nothing more is appended
    OUT_OF_ORDER = -2  # above acked_seq + 1: a frame is missing before it
    TOO_LONG = -3  # the call would pass its longest length
    UNKNOWN = -4  # no such live call in Redis
    AHEAD = -5  # the audio would run further ahead of the call's clock than allowed: try again later


START = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'format', ARGV[3], 'acked_seq', 0, 'state', 'open',
           'next_sample', 0, 'last_seen', now[1] + now[2] / 1e6, 'opened_at', now[1] + now[2] / 1e6)
redis.call('XADD', KEYS[2], '*', 'call_id', ARGV[1])
return 1
"""
"""KEYS: meta, calls; ARGV: call id, meta JSON, format JSON. 1: started; 0: the call exists already."""

TOUCH = """
local fields = redis.call('HMGET', KEYS[1], 'state', 'acked_seq')
if not fields[1] then return {'', 0} end
if fields[1] == 'open' then
  local now = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'last_seen', now[1] + now[2] / 1e6)
end
return {fields[1], tonumber(fields[2])}
"""
"""KEYS: meta. A client (re)connected: {state, acked_seq} ('' when no such call); an open call counts as seen."""

APPEND = """
local fields = redis.call('HMGET', KEYS[1], 'state', 'acked_seq', 'next_sample', 'opened_at')
if not fields[1] then return {-4, 0} end
local acked = tonumber(fields[2])
if fields[1] ~= 'open' then return {-1, acked} end
local seq = tonumber(ARGV[1])
if seq <= acked then return {0, acked} end
if seq ~= acked + 1 then return {-2, acked} end
local sample = tonumber(fields[3])
local count = tonumber(ARGV[3])
if sample + count > tonumber(ARGV[4]) then return {-3, acked} end
local now = redis.call('TIME')
now = now[1] + now[2] / 1e6
if fields[4] then
  local rate = tonumber(ARGV[5])
  local allowed = (now - tonumber(fields[4]) + tonumber(ARGV[6])) * rate
  if sample + count > allowed then return {-5, acked, math.ceil((sample + count - allowed) * 1000 / rate)} end
end
redis.call('XADD', KEYS[2], '*', 'seq', seq, 'sample', sample, 'pcm', ARGV[2])
redis.call('HSET', KEYS[1], 'acked_seq', seq, 'next_sample', sample + count, 'last_seen', now)
return {1, seq}
"""
"""KEYS: meta, audio; ARGV: seq, pcm (int16 LE), samples per channel, most samples per channel in a call, sample
rate, most seconds of audio ahead of the call's clock. {Appended, acked_seq}, and for AHEAD the milliseconds to
wait. (A call started before `opened_at` was kept has no clock: it is not paced.)"""

END = """
local fields = redis.call('HMGET', KEYS[1], 'state', 'last_seen')
if fields[1] ~= 'open' then return 0 end
local idle = tonumber(ARGV[2])
if idle > 0 then
  local now = redis.call('TIME')
  if now[1] + now[2] / 1e6 - tonumber(fields[2]) < idle then return 0 end
end
redis.call('XADD', KEYS[2], '*', 'kind', 'end', 'reason', ARGV[1])
local state = 'abandoned'
if ARGV[1] == 'hangup' then state = 'ended' end
redis.call('HSET', KEYS[1], 'state', state)
return 1
"""
"""KEYS: meta, audio; ARGV: reason (hangup | abandoned), idle seconds (0: now; else only when nothing was seen
that long). 1: the end entry was written; 0: the call was not open (or not idle)."""


def as_text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
