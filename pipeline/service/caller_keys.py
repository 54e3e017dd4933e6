"""Caller keys: who called, recognisable across calls without the number being kept in the ticket index.

A caller key is HMAC-SHA256, keyed with the deployment's secret, of the caller's number in E.164 form
(libphonenumber, the deployment's country assumed: 138 0000 7731, +86 13800007731 and 008613800007731 give one
key). Without the secret a key cannot be turned back into the number, nor checked against a guessed one (a plain
hash of an 11-digit number is reversed by trying them all). The secret comes from HOTLINE_RELATED__CALLER_KEY_SECRET,
or is made once in DATA_DIR/caller-key.secret on a one-machine deployment (`deployment_secret`).
"""

import hashlib
import hmac
import os
import re
import secrets
import tempfile
from pathlib import Path

import phonenumbers

__all__ = ["caller_key", "deployment_secret", "normalised_number"]

SECRET_FILE = "caller-key.secret"


def normalised_number(number: str | None, region: str = "CN") -> str:
    """The number in E.164 ("+8613800007731"); its digits alone when libphonenumber cannot read it; "" for none."""
    if not number or not number.strip():
        return ""
    try:
        parsed = phonenumbers.parse(number, region)
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return re.sub(r"\D", "", number)


def caller_key(number: str | None, secret: bytes) -> str:
    """The caller key of `number` (64 hex digits), "" when there is no number."""
    if not secret:
        raise ValueError("a caller key needs the deployment's secret")
    normalised = normalised_number(number)
    if not normalised:
        return ""
    return hmac.new(secret, normalised.encode(), hashlib.sha256).hexdigest()


def deployment_secret(configured: str | None, data_dir: Path) -> bytes:
    """The configured secret, else the one in DATA_DIR/caller-key.secret, made (owner-readable only) on first use."""
    if configured:
        return configured.encode()
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # written whole under another name, then linked in place: the link fails if another process made the
        # file first, and every process then reads that one (mkstemp makes it owner-readable only)
        handle, partial = tempfile.mkstemp(dir=data_dir, prefix=".caller-key-")
        try:
            os.write(handle, secrets.token_hex(32).encode())
            os.fsync(handle)
            os.close(handle)
            os.link(partial, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(partial)
    return path.read_bytes().strip()
