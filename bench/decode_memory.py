"""Memory of the worker's decoder on a maximum-length call: peak RSS of `asr.audio.load_audio` against the
documented bound.

Each decode runs in a fresh subprocess that imports the decoder, notes its RSS (the baseline: Python, NumPy,
PyAV), decodes with the default options (as a worker with default settings does) and reports its VmHWM.
The recordings are made here with PyAV: an hour (the default `max_duration_s`) of stereo 8 kHz FLAC of low
noise, the same with a STREAMINFO that claims 60 s (the output grows while decoding) and with none, and the
issue's file: 3.9 hours of mono 8 kHz FLAC silence in 2.7 MB.

The bound (asr/audio.py): 64,000 bytes per second of audio per channel (16 kHz float32) + one growth step
(60 s of it, when the header announced less) + a constant, taken here as 16 MiB over the baseline.

    .venv/bin/python bench/decode_memory.py [--code DIR] [--json bench/results/decode_memory.json]

`--code DIR`: the source tree whose decoder runs (default: this one), e.g. an export of an older commit
(`git archive main | tar -x -C /tmp/main-code`) to measure it the same way.
"""

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import av  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BYTES_PER_SECOND = 16000 * 4
GROWTH_S = 60.0
CONSTANT_MB = 16.0


def write_flac(path: Path, seconds: float, channels: int, noise: bool) -> Path:
    """8 kHz FLAC of low noise (or silence), exactly `seconds` long."""
    layout = "mono" if channels == 1 else "stereo"
    rng = np.random.default_rng(0)
    step = 4608 * 20
    total = int(seconds * 8000)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("flac", rate=8000, layout=layout)
        for start in range(0, total, step):
            count = min(step, total - start)
            if noise:
                block = rng.integers(-64, 64, size=(1, count * channels), dtype=np.int16)
            else:
                block = np.zeros((1, count * channels), dtype=np.int16)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def announce(source: Path, target: Path, seconds: float) -> Path:
    """A copy of a FLAC whose STREAMINFO claims `seconds` (0: no length)."""
    data = bytearray(source.read_bytes())
    word = struct.unpack(">Q", data[18:26])[0]  # the 36-bit sample count ends this word
    data[18:26] = struct.pack(">Q", (word & ~((1 << 36) - 1)) | int(seconds * 8000))
    target.write_bytes(bytes(data))
    return target


def status_kb() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {name: int(re.search(rf"^{name}:\s+(\d+) kB", text, re.M).group(1)) for name in ("VmRSS", "VmHWM")}


def decode(path: Path) -> None:
    """The subprocess: decode `path` as a worker does and print what it cost, as one JSON line."""
    from asr.audio import load_audio
    from models import HotlineError

    baseline = status_kb()["VmRSS"]
    started = time.perf_counter()
    result: dict = {"baseline_kb": baseline}
    try:
        audio = load_audio(path)
        result.update(ok=True, duration_s=round(audio.duration, 1), channels=len(audio.channels))
    except HotlineError as error:
        result.update(ok=False, error=f"{type(error).__name__}: {error}")
    result.update(seconds=round(time.perf_counter() - started, 1), hwm_kb=status_kb()["VmHWM"])
    print(json.dumps(result))


def measure(code: Path, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    argv = [sys.executable, str(Path(__file__).resolve()), "decode", "--file", str(path)]
    done = subprocess.run(argv, env=env, cwd=code, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, default=ROOT, help="source tree whose decoder runs")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "decode_memory.json")
    parser.add_argument("decode", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decode == "decode":
        decode(args.file)
        return
    console = Console(width=170)
    code = args.code.resolve()
    results: dict = {"code": str(code), "constant_mb": CONSTANT_MB, "runs": []}
    with tempfile.TemporaryDirectory(prefix="hotline-decode-memory-") as tmp:
        folder = Path(tmp)
        hour = write_flac(folder / "hour.flac", 3600, channels=2, noise=True)
        cases = [
            ("1 h stereo 8 kHz FLAC", hour, False),
            ("same, header claims 60 s", announce(hour, folder / "claims-60.flac", 60), True),
            ("same, no length in header", announce(hour, folder / "no-length.flac", 0), True),
            ("issue: 3.9 h mono FLAC silence", write_flac(folder / "issue.flac", 3.9 * 3600, 1, False), False),
        ]
        for name, path, grows in cases:
            run = measure(code, path)
            # the bound of what was decoded (nothing, when the recording is refused)
            decoded_s, channels = (run["duration_s"], run["channels"]) if run["ok"] else (0.0, 0)
            output_mb = BYTES_PER_SECOND * channels * decoded_s / 2**20
            step_mb = BYTES_PER_SECOND * channels * GROWTH_S / 2**20 if grows else 0.0
            growth_mb = (run["hwm_kb"] - run["baseline_kb"]) / 1024
            row = {
                "recording": name,
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "outcome": "decoded" if run["ok"] else run["error"],
                "baseline_mb": round(run["baseline_kb"] / 1024, 1),
                "peak_mb": round(run["hwm_kb"] / 1024, 1),
                "growth_mb": round(growth_mb, 1),
                "output_mb": round(output_mb, 1),
                "bound_mb": round(output_mb + step_mb + CONSTANT_MB, 1),
                "within_bound": growth_mb <= output_mb + step_mb + CONSTANT_MB,
                "seconds": run["seconds"],
            }
            results["runs"].append(row)
            console.print(row)

    table = Table(title=f"load_audio peak RSS (MiB), decoder from {code}")
    columns = ("recording", "file MB", "outcome", "baseline", "peak", "growth", "output", "bound", "within", "s")
    for column in columns:
        table.add_column(column, justify="left" if column in ("recording", "outcome") else "right")
    for row in results["runs"]:
        table.add_row(
            row["recording"],
            str(row["file_mb"]),
            row["outcome"][:80],
            *(str(row[name]) for name in ("baseline_mb", "peak_mb", "growth_mb", "output_mb", "bound_mb")),
            "yes" if row["within_bound"] else "NO",
            str(row["seconds"]),
        )
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"→ {args.json}")


if __name__ == "__main__":
    main()
