"""Sign a bundle folder and check its signature, offline, with the OpenSSF ``model-signing`` library (1.1.1).

The signature is ``model.sig`` at the top of the bundle (model-signing's own default name): a Sigstore-format bundle
(``application/vnd.dev.sigstore.bundle.v0.3+json``) whose DSSE envelope holds an in-toto statement listing the
sha256 of every other file of the folder, signed with an elliptic-curve private key (P-256, P-384 or P-521; the
library accepts no other key type, ed25519 included). No transparency log, no OIDC: the key signer and verifier
of ``model_signing.signing.Config.use_elliptic_key_signer`` / ``verifying.Config.use_elliptic_key_verifier`` only.

Every file is covered, ``SHA256SUMS`` included: a file changed after signing fails even when ``SHA256SUMS`` was
recomputed, and a file added after signing fails too (model-signing compares the whole folder listing). The same
check runs with the library's own command: ``model_signing verify key <folder> --signature <folder>/model.sig
--public_key pub.pem``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from builder.common.hashing import sha256_file
from builder.errors import HostEnvironmentError, UsageError
from builder.verify.checks import VerifyReport

SIGNATURE_NAME = "model.sig"
PASSWORD_ENV = "ENGINE_FOUNDRY_SIGN_KEY_PASSWORD"  # the private key's passphrase, for an encrypted key
KEY_TIP = (
    "make a P-256 key pair: `openssl ecparam -name prime256v1 -genkey -noout -out sign-key.pem && "
    "openssl ec -in sign-key.pem -pubout -out sign-pub.pem` (docs/ops.md, Signing)"
)


def sign_folder(folder: Path, private_key: Path) -> Path:
    """Sign every file of ``folder`` into ``folder/model.sig``; return its path.

    Raises:
        UsageError: the key is missing, unreadable, encrypted without :data:`PASSWORD_ENV`, or not an EC key of a
            curve model-signing accepts.
    """
    _library()
    from model_signing import hashing, signing

    config = signing.Config()
    password = os.environ.get(PASSWORD_ENV) or None
    # model-signing 1.1.1 annotates the password as str but hands it to cryptography's load_pem_private_key, which
    # takes bytes only (a str raises TypeError there, also through the library's own `--password`): pass bytes.
    secret = cast(str, password.encode()) if password else None
    try:
        config.use_elliptic_key_signer(private_key=private_key, password=secret)
    except FileNotFoundError:
        raise UsageError(f"--sign-key {private_key}: no such file", hint=KEY_TIP) from None
    except (ValueError, TypeError) as err:  # not PEM, wrong/absent passphrase, an unsupported curve or key type
        raise UsageError(
            f"--sign-key {private_key}: not a usable EC private key ({err})",
            hint=f"pass a PEM EC private key (an encrypted one with its passphrase in {PASSWORD_ENV}); {KEY_TIP}",
        ) from None
    except AttributeError:  # cryptography's ed25519/RSA keys have no .curve: model-signing signs with EC keys only
        raise UsageError(
            f"--sign-key {private_key}: not an elliptic-curve key (model-signing 1.1.1 signs with P-256/384/521)",
            hint=KEY_TIP,
        ) from None
    # sha256 per file, every file but the signature itself (git files included: a bundle has none to skip)
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=[SIGNATURE_NAME], ignore_git_paths=False))
    signature = folder / SIGNATURE_NAME
    config.sign(folder, signature)
    return signature


def signature_for(top: str, entries: Mapping[str, Path | bytes], private_key: Path) -> bytes:
    """The ``model.sig`` bytes of a bundle whose files are ``entries`` (``{path inside top: file or bytes}``).

    The files are laid out in a private temporary folder named ``top`` (hard links where possible) and signed there.
    """
    with tempfile.TemporaryDirectory(prefix="ef-sign-") as tmp:
        folder = Path(tmp) / top
        for rel, value in entries.items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, bytes):
                target.write_bytes(value)
            else:
                _link_or_copy(value, target)
        return sign_folder(folder, private_key).read_bytes()


def signature_problem(folder: Path, public_key: Path) -> str | None:
    """Why ``folder`` is not signed by the holder of ``public_key``'s private key over exactly its files (None: it is).

    Raises:
        UsageError: ``public_key`` is missing or not a PEM EC public key (a wrong ``--trusted-key``, not a bad bundle).
    """
    signature = folder / SIGNATURE_NAME
    if not signature.is_file():
        return f"{signature}: missing: the bundle is not signed (make it with `bundle --sign-key KEY`)"
    _library()
    from model_signing import verifying

    config = verifying.Config()
    try:
        config.use_elliptic_key_verifier(public_key=public_key)
    except FileNotFoundError:
        raise UsageError(f"--trusted-key {public_key}: no such file", hint=KEY_TIP) from None
    except (ValueError, TypeError, AttributeError) as err:
        raise UsageError(
            f"--trusted-key {public_key}: not a PEM EC public key ({err})",
            hint="pass the public half of the signing key: `openssl ec -in sign-key.pem -pubout -out sign-pub.pem`",
        ) from None
    try:
        config.verify(folder, signature)
    except Exception as err:  # model-signing raises ValueError, InvalidSignature, protobuf/JSON errors
        if str(err).startswith("Signature mismatch"):  # the signature holds; the files are not what it signed
            return f"{signature}: the files differ from what was signed ({_diff(folder)})"
        return f"{signature}: {_reason(err)}"
    return None


def check_signature(report: VerifyReport, folder: Path, trusted_key: Path | None) -> None:
    """The ``signature`` check of ``verify``: with ``trusted_key``, signed by it over exactly these files, else
    NO-GO naming why; without, only reported (a skip that decides nothing)."""
    signed = (folder / SIGNATURE_NAME).is_file()
    if trusted_key is None:
        what = f"signed ({SIGNATURE_NAME}), not checked" if signed else "not signed"
        report.add("signature", "skip", f"{what}: pass --trusted-key PUB to require the bundle's signer")
        return
    problem = signature_problem(folder, trusted_key)
    if problem:
        report.add("signature", "fail", problem)
        return
    count = sum(1 for p in folder.rglob("*") if p.is_file()) - 1
    report.add("signature", "pass", f"{count} files signed by the trusted key {trusted_key}, none added or changed")


def _library() -> None:
    """model-signing is importable here, else one host error: the build images do not carry it.

    Raises:
        HostEnvironmentError: it is not installed (e.g. ``verify`` run inside the TensorRT image).
    """
    try:
        import model_signing  # noqa: F401
    except ImportError as err:
        raise HostEnvironmentError(
            f"signatures need the model-signing library, which this Python cannot import ({err})",
            hint="sign and check signatures with the checkout's .venv (`scripts/setup-env verify` installs "
            "requirements/signing.txt): `.venv/bin/engine-foundry verify --trusted-key PUB --no-run BUNDLE`; the "
            "build images do not carry it",
        ) from None


def _reason(err: Exception) -> str:
    text = str(err)
    name = type(err).__name__
    if name == "InvalidSignature":
        return "the signature does not verify with the trusted key (signed by another key, or the signature altered)"
    if text.startswith("Key mismatch"):
        return "signed by another key than the trusted one (the signature's key hint differs)"
    return f"unreadable or malformed signature ({name}: {text})"


def _diff(folder: Path) -> str:
    """Which files differ from the statement model-signing verified: changed, added, removed names.

    Read from the signature's in-toto statement (``predicate.resources``: name, sha256 digest) once the library has
    checked the signature over it; its own mismatch message is a Python list's repr of byte strings.
    """
    envelope = json.loads((folder / SIGNATURE_NAME).read_text())["dsseEnvelope"]
    resources = json.loads(base64.b64decode(envelope["payload"]))["predicate"]["resources"]
    signed = {r["name"]: r["digest"] for r in resources}
    present = {
        p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file() and p.name != SIGNATURE_NAME
    }
    changed = sorted(rel for rel in set(signed) & set(present) if sha256_file(present[rel]) != signed[rel])
    parts = [f"changed after signing: {', '.join(changed)}"] if changed else []
    if added := sorted(set(present) - set(signed)):
        parts.append(f"added after signing: {', '.join(added)}")
    if removed := sorted(set(signed) - set(present)):
        parts.append(f"removed after signing: {', '.join(removed)}")
    return "; ".join(parts) or "the folder listing differs"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
