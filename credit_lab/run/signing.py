"""Signed manifests: tamper evidence that someone with write access to the output folder cannot forge.

The hashes in ``manifest.json`` and the chained ``runs.jsonl`` catch accidental change, but a
forger who can write the folder can rewrite a file, its hash, the manifest and the log line
consistently. A signature made with a private key kept outside the output folder cannot be
rewritten that way: the run signs the bytes of its manifest with Ed25519 into ``manifest.sig``,
and ``credit-lab verify --public-key KEY.pub`` checks it with the public key alone (an auditor
can verify without being able to sign).

``credit-lab keygen DIR`` makes the pair; a run signs when ``audit.signing_key`` in the params (or
the environment variable ``CREDIT_LAB_SIGNING_KEY``) names the private key file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from credit_lab.core.exceptions import ParamsError
from credit_lab.data import io

__all__ = ["ENV_PUBLIC_KEY", "ENV_SIGNING_KEY", "SIGNATURE", "SignatureCheck", "check_signature", "fingerprint",
           "keygen", "load_private_key", "load_public_key", "sign_manifest", "signing_key_path"]

SIGNATURE = "manifest.sig"
ENV_SIGNING_KEY = "CREDIT_LAB_SIGNING_KEY"
ENV_PUBLIC_KEY = "CREDIT_LAB_PUBLIC_KEY"
_PRIVATE, _PUBLIC = "credit-lab-signing.key", "credit-lab-signing.pub"


def fingerprint(public_key) -> str:
    """A short, stable name of a public key: ``ed25519:`` and 32 hex digits of the SHA-256 of its raw bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


def keygen(folder: str | Path) -> tuple[Path, Path, str]:
    """Write a new Ed25519 key pair into ``folder``: the private key (mode 0600) and the public key.

    Refuses to overwrite an existing key (runs signed with it could no longer be checked against it).
    Returns the two paths and the key's fingerprint.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / _PRIVATE, folder / _PUBLIC
    for path in (private, public):
        if path.exists():
            raise ParamsError(f"{path} exists; a new key would orphan the runs signed with it. Choose another folder "
                              "or move the old pair away first.")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public, fingerprint(key.public_key())


def signing_key_path(configured: str | None) -> Path | None:
    """The private key a run signs with: ``audit.signing_key``, else ``$CREDIT_LAB_SIGNING_KEY``, else none."""
    value = configured or os.environ.get(ENV_SIGNING_KEY) or None
    return Path(value).expanduser() if value else None


def load_private_key(path: str | Path, output_dir: str | Path | None = None):
    """The Ed25519 private key in ``path``; a :class:`ParamsError` says what is wrong and how to fix it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"audit.signing_key: {str(path)!r} is not a file; create a key pair with "
                          "`credit-lab keygen DIR` and name its credit-lab-signing.key")
    if output_dir is not None:
        out = Path(output_dir).resolve()
        if out == path.resolve().parent or out in path.resolve().parents:
            raise ParamsError(f"audit.signing_key: {str(path)!r} lies inside the output folder {str(out)!r}, where "
                              "anyone who can alter a run can read it and sign a forgery; keep it outside")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ParamsError(f"audit.signing_key: {str(path)!r} can be read by other users (mode {mode:o}); "
                          f"run `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise ParamsError(f"audit.signing_key: {str(path)!r} is not an unencrypted PEM private key ({err})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ParamsError(f"audit.signing_key: {str(path)!r} holds a {type(key).__name__}, not an Ed25519 key; "
                          "create one with `credit-lab keygen DIR`")
    return key


def load_public_key(path: str | Path):
    """The Ed25519 public key in ``path`` (PEM), for verifying."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as err:
        raise ParamsError(f"--public-key: cannot read {str(path)!r} ({err.strerror or err})") from None
    except ValueError as err:
        raise ParamsError(f"--public-key: {str(path)!r} is not a PEM public key ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ParamsError(f"--public-key: {str(path)!r} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def sign_manifest(run_dir: Path, private_key) -> str:
    """Sign ``run_dir/manifest.json``'s bytes into ``run_dir/manifest.sig``; returns the key's fingerprint."""
    data = (run_dir / "manifest.json").read_bytes()
    record = {"algorithm": "Ed25519", "key": fingerprint(private_key.public_key()),
              "manifest_sha256": hashlib.sha256(data).hexdigest(),
              "signature": base64.b64encode(private_key.sign(data)).decode("ascii")}
    io.write_json(run_dir / SIGNATURE, record)
    return record["key"]


@dataclass(frozen=True)
class SignatureCheck:
    """What the signature of a run folder shows.

    ``status``: ``"signed"`` (a valid signature of the given key), ``"not checked"`` (signed, but no public
    key was given), ``"unsigned"`` (no signature), or ``"bad"`` (a signature that does not verify, of another
    key, or missing while a key was given: ``problem`` says which).
    """

    status: str
    key: str | None = None
    problem: str | None = None


def check_signature(run_dir: str | Path, public_key=None) -> SignatureCheck:
    """Check ``run_dir/manifest.sig`` against the manifest's bytes and, when given, the expected public key."""
    from cryptography.exceptions import InvalidSignature

    run_dir = Path(run_dir)
    sig_path = run_dir / SIGNATURE
    expected = fingerprint(public_key) if public_key is not None else None
    if not sig_path.is_file():
        if public_key is None:
            return SignatureCheck("unsigned")
        return SignatureCheck("bad", expected, f"unsigned: a public key ({expected}) was given but the run carries "
                                               f"no {SIGNATURE}; it was never signed, or the signature was removed")
    try:
        record = json.loads(sig_path.read_bytes())
        signature = base64.b64decode(record["signature"], validate=True)
        signer = str(record["key"])
    except (ValueError, KeyError, TypeError) as err:
        return SignatureCheck("bad", None, f"changed: {SIGNATURE} is not a signature record ({err})")
    if public_key is None:
        return SignatureCheck("not checked", signer)
    if signer != expected:
        return SignatureCheck("bad", signer, f"signed by another key: {SIGNATURE} names {signer}, the public key "
                                             f"given is {expected}")
    try:
        public_key.verify(signature, (run_dir / "manifest.json").read_bytes())
    except InvalidSignature:
        return SignatureCheck("bad", signer, f"bad signature: manifest.json is not the manifest {signer} signed")
    except OSError:
        return SignatureCheck("bad", signer, "missing: manifest.json")
    return SignatureCheck("signed", signer)
