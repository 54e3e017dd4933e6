"""Deployment settings, read from HOTLINE_* environment variables (and a .env file) at start-up.

Only entry points (CLI, API, worker) read settings; library code takes explicit arguments.
Nested fields use `__`, e.g. HOTLINE_VAD__AGGRESSIVENESS=3.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class VadSettings(BaseModel):
    aggressiveness: int = Field(2, ge=0, le=3)
    min_silence_ms: int = Field(300, ge=0)
    speech_pad_ms: int = Field(200, ge=0)


class ExtractSettings(BaseModel):
    """Ticket extraction: the deployment's place and the resources routing and suggestions read."""

    enabled: bool = Field(True, description="pre-fill a ticket for every call")
    province: str = Field("海南省", description="the hotline's province, assumed for addresses that name none")
    city: str = Field("海口市", description="the hotline's city, assumed for addresses that name none")
    catalogue: Path | None = Field(None, description="duty catalogue YAML (default: the bundled one)")
    knowledge_base: Path | None = Field(None, description="knowledge-base YAML file or folder (default: bundled)")
    forms: Path | None = Field(None, description="ticket templates YAML (default: bundled)")
    signals: Path | None = Field(None, description="request-type/urgency/emotion cue words YAML (default: bundled)")
    routing_model: Path | None = Field(None, description="a model from `hotline train routing` (default: none)")
    dispatch_target_error: float = Field(
        0.0413,
        gt=0,
        lt=1,
        description="error rate at which `hotline train routing` sets the auto-dispatch threshold and `hotline eval "
        "routing` reports the share: the operators' own return rate (退单率)",
    )


class RelatedSettings(BaseModel):
    """Related tickets (repeats, 并单): how far back each kind of match looks, and the caller key's secret."""

    caller_key_secret: SecretStr | None = Field(
        None,
        description="the deployment's secret for caller keys (HMAC-SHA256 of the normalised number); unset: one is "
        "made once in DATA_DIR/caller-key.secret. Every machine of a deployment needs the same one, and changing "
        "it makes earlier tickets' callers unrecognisable",
    )
    caller_window_days: float = Field(30, gt=0, description="earlier tickets of the same caller, this far back")
    place_window_days: float = Field(7, gt=0, description="earlier tickets about the same road or place")
    matter_window_days: float = Field(7, gt=0, description="earlier tickets about the same matter (similar text)")
    same_matter_threshold: float = Field(
        0.4,
        gt=0,
        le=1,
        description="text similarity from which two tickets are called the same matter (bench/related.py: a 0.03% "
        "false-link rate on random Haikou pairs)",
    )
    max_results: int = Field(10, ge=1, le=100, description="related tickets shown per call")


class StoreSettings(BaseModel):
    """Where recordings are kept: a local folder (default) or an S3-compatible bucket (several machines)."""

    kind: Literal["local", "s3"] = "local"
    dir: Path | None = Field(None, description="local store folder (default: DATA_DIR/recordings)")
    bucket: str = "hotline-recordings"
    endpoint_url: str | None = Field(None, description="S3 endpoint, e.g. http://127.0.0.1:8333 (default: AWS)")
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    prefix: str = "recordings/"


class WorkerSettings(BaseModel):
    """Celery workers and housekeeping (the sweep that re-enqueues lost jobs); also the defaults of
    `pipeline.service.jobs.JobOptions`."""

    lease_s: float = Field(
        3600.0, gt=0, description="a claimed job's lease and Redis' visibility timeout; above the slowest call"
    )
    requeue_after_s: float = Field(900.0, gt=0, description="a job queued this long without a claim is re-enqueued")
    sweep_interval_s: float = Field(
        60, gt=0, description="how often beat (the API without Redis) sweeps for lost jobs and due webhooks"
    )
    concurrency: int = Field(1, ge=1, description="jobs at a time per worker process (models load once each)")


class WebhookSettings(BaseModel):
    """Webhook delivery; also the defaults of `pipeline.service.webhooks.WebhookOptions`, which explains them."""

    timeout_s: float = Field(10, gt=0)
    max_attempts: int = Field(8, ge=1)
    backoff_base_s: float = Field(30, gt=0)
    backoff_max_s: float = Field(3600, gt=0)
    allow_private: bool = Field(False, description="allow webhook URLs on loopback/private networks")


class AuthSettings(BaseModel):
    """The web pages' logins and the guard against guessing keys."""

    session_max_age_s: float = Field(12 * 3600, gt=0, description="a login ends this long after it began (a shift)")
    session_idle_s: float = Field(2 * 3600, gt=0, description="a login unused this long ends")
    max_failures: int = Field(
        30, ge=1, description="invalid keys and failed logins from one client address before it is answered 429"
    )
    failure_window_s: float = Field(300, gt=0, description="how long a failure counts against its address")


class ServerSettings(BaseModel):
    """`hotline serve`: how long a slow client may take before its connection is closed. uvicorn bounds only
    the idle time between requests (keep-alive); these bound the request itself (api.server, api.limits)."""

    header_timeout_s: float = Field(
        10, gt=0, description="from the connection (or the next request's first byte) to the end of its headers"
    )
    body_idle_timeout_s: float = Field(30, gt=0, description="the longest wait for the next piece of a request body")
    body_timeout_s: float = Field(
        600, gt=0, description="a whole request body (the largest upload needs about 2.7 Mbit/s at the default)"
    )
    keep_alive_s: float = Field(5, gt=0, description="an idle connection between two requests is closed after this")
    send_idle_timeout_s: float = Field(
        60, gt=0, description="a client that takes no part of a response (audio) this long has its connection closed"
    )
    limit_concurrency: int | None = Field(
        1000, ge=1, description="connections at once per process; more get 503 (None: no limit)"
    )
    trusted_proxies: str = Field(
        "",
        max_length=1000,
        description="comma-separated addresses of the reverse proxies whose X-Forwarded-For names the client "
        "(the login throttle counts per client); empty: no proxy is trusted and the header is ignored",
    )


class LiveSettings(BaseModel):
    """Live calls (`GET /v1/live`, `hotline live-worker`; protocol in docs/LIVE.md)."""

    max_frame_bytes: int = Field(
        16_000,
        ge=1024,
        description="largest binary frame: 4-byte sequence number + audio (1 s of 8 kHz stereo PCM16 is 32 kB)",
    )
    max_call_s: float = Field(3600, gt=0, description="longest live call; audio past it is refused and the call ends")
    max_lead_s: float = Field(
        60,
        gt=0,
        description="how far a call's audio may run ahead of the time since its start frame; past it, frames are "
        "taken at real time (the server waits before it reads the next), so a flood cannot fill Redis",
    )
    abandon_after_s: float = Field(
        30, gt=0, description="a call that gets no frame this long (and no resume) is ended as abandoned"
    )
    lease_s: float = Field(
        10, gt=0, description="a live worker silent this long loses its calls to another (XAUTOCLAIM's idle time)"
    )
    concurrency: int = Field(4, ge=1, description="live calls at a time per live-worker process (the model is shared)")
    keep_s: float = Field(3600, gt=0, description="how long a finished call's Redis streams are kept for late readers")
    extract_every_s: float = Field(
        3.0, ge=0, description="a call's ticket is extracted again at most this often while it is live"
    )
    beam_size: int = Field(5, ge=1, description="beam of the live decode of one utterance (1: greedy)")
    encoder_min_s: float | None = Field(
        10.0,
        gt=0,
        description="the live decode's encoder sees the utterance, at least this long, not Whisper's 30 s window; "
        "unset: the full window",
    )
    refine: bool = Field(
        True, description="after hang-up, the batch pipeline over the assembled recording refines transcript and ticket"
    )


class Settings(BaseSettings):
    """Everything a deployment configures. Defaults run on one machine with no services."""

    model_config = SettingsConfigDict(env_prefix="HOTLINE_", env_nested_delimiter="__", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path.home() / ".local" / "share" / "hotline-intake", description="voiceprints, model cache")
    model: str = Field("base", description="Whisper model: 'base' (bundled), a hub name, or a CTranslate2 directory")
    model_cache_dir: Path | None = Field(
        None, description="where the bundled model is assembled; default DATA_DIR/models"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = Field("default", description="CTranslate2 compute type; default int8 on CPU, float16 on GPU")
    cpu_threads: int = Field(0, ge=0, description="0 lets CTranslate2 decide")
    batch_size: int = Field(8, ge=1)
    beam_size: int = Field(5, ge=1)
    initial_prompt: str | None = Field(None, description="Whisper prompt; none by default (docs/BENCHMARKS.md)")
    hotwords: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated place/department names"
    )
    lexicon: Path | None = Field(
        None, description="hotline lexicon (`hotline lexicon build`); default: the bundled one for the default city"
    )
    repair: bool = Field(True, description="repair sound-alikes of lexicon terms and digits after recognition")
    diarizer: Literal["auto", "embedding", "pyannote"] = Field(
        "auto", description="mono backend; stereo calls always use the channel backend"
    )
    pyannote_config: Path | None = Field(None, description="local pyannote.audio pipeline config.yaml")
    num_speakers: int = Field(2, ge=1, le=8)
    max_duration_s: float = Field(
        3600,
        gt=0,
        description="longest recording accepted at push and decoded by workers, counted on the decoded samples; "
        "a hotline call lasts minutes, and a worker decodes an hour of stereo in about 461 MB (asr.audio)",
    )
    vad: VadSettings = Field(default_factory=VadSettings)
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    # service (hotline serve / hotline worker)
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite in DATA_DIR/hotline.db")
    redis_url: str | None = Field(None, description="Celery broker; unset = jobs run in the API process")
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="base URL of the API, for links in webhooks and API answers (never the request's Host header)",
    )
    max_upload_mb: float = Field(200, gt=0, description="largest recording accepted by POST /v1/calls")
    retention_days: float | None = Field(None, gt=0, description="delete recordings of finished calls after N days")
    store: StoreSettings = Field(default_factory=StoreSettings)
    related: RelatedSettings = Field(default_factory=RelatedSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)

    @property
    def resolved_model_cache(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def voiceprint_dir(self) -> Path:
        return self.data_dir / "voiceprints"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hotline.db'}"

    @property
    def recordings_dir(self) -> Path:
        return self.store.dir or self.data_dir / "recordings"

    @field_validator("hotwords", mode="before")
    @classmethod
    def _split_hotwords(cls, value):
        """HOTLINE_HOTWORDS="秀英区,龙华区" (full-width commas accepted too)."""
        if isinstance(value, str):
            return [word.strip() for word in value.replace("，", ",").split(",") if word.strip()]
        return value
