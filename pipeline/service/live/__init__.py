"""Live calls: audio that arrives during the call (`GET /v1/live`), carried by Redis streams to live workers
(`hotline live-worker`) that transcribe each utterance as it ends and fill the ticket in while the caller speaks.

- `wire`: the Redis wire format (keys, stream entries, the Lua scripts that append exactly once) and the audio
  format a call announces; the one definition the API, the workers and the tests share.
- `worker`: the live worker (consumer group, claims, takeover, turns saved as they land, the call finished like
  a batch call).
- `client`: a telephony client of the protocol (docs/LIVE.md), behind `hotline live-push`.
- `cli`: `hotline live-worker`, `hotline live-push`.

The API process imports `wire` only: no model, no numpy work beyond G.711 tables.
"""
