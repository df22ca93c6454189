"""Signed bundles (model-signing 1.1.1, EC keys made here) and `verify --trusted-key`: every tamper case is a NO-GO
naming why, on the archive and on its `tar -xzf` folder alike."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from builder.cli import main
from builder.common.hashing import format_sums, sha256_file
from builder.errors import HostEnvironmentError, UsageError
from builder.ops.bundle import bundle_entries, make_bundle, write_tar_gz
from builder.ops.provenance import PROVENANCE_NAME, provenance_bytes
from builder.ops.signing import SIGNATURE_NAME, sign_folder, signature_for
from builder.record.manifest_read import read_manifest
from builder.verify import compat
from builder.verify.artifact import verify_path
from tests.ops.fakes import synthetic_manifest, write_build
from tests.support import unpack_bundle


def _key_pair(folder: Path, name: str, curve: ec.EllipticCurve | None = None) -> tuple[Path, Path]:
    """A fresh EC key pair as PEM files (PKCS#8 private, SubjectPublicKeyInfo public)."""
    key = ec.generate_private_key(curve or ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path / "keys"
    folder.mkdir()
    return {"ops": _key_pair(folder, "ops"), "other": _key_pair(folder, "other")}


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(compat, "current_host", lambda **_: compat.HostFacts([], onnxruntime="1.16.3"))
    return write_build(tmp_path / "artifacts", synthetic_manifest("tiny", n=1))


def _resum(top: Path) -> None:
    """What a careful forger does: recompute both SHA256SUMS files over what the folder now holds."""
    build = top / "build"
    files = sorted(p for p in build.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    (build / "SHA256SUMS").write_text(format_sums((p.relative_to(build).as_posix(), sha256_file(p)) for p in files))
    skip = {top / "SHA256SUMS", top / SIGNATURE_NAME}
    files = sorted(p for p in top.rglob("*") if p.is_file() and p not in skip)
    (top / "SHA256SUMS").write_text(format_sums((p.relative_to(top).as_posix(), sha256_file(p)) for p in files))


def _change_model(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    for rel in ("build/model.ort.onnx", "triton/tiny/1/model.onnx"):
        (top / rel).write_bytes((top / rel).read_bytes() + b"\0")
    manifest = json.loads((top / "build/manifest.json").read_text())  # the manifest follows, so checksums agree
    for art in manifest["artifacts"]:
        if art["path"] == "model.ort.onnx":
            art["sha256"], art["size"] = sha256_file(top / "build/model.ort.onnx"), art["size"] + 1
    (top / "build/manifest.json").write_text(json.dumps(manifest))
    (top / PROVENANCE_NAME).write_bytes(provenance_bytes(read_manifest(manifest)))
    _resum(top)


def _add_file(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    (top / "lib").mkdir()
    (top / "lib/libnvinfer_plugin.so").write_bytes(b"\x7fELF")
    _resum(top)


def _remove_file(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    (top / "sbom.cdx.json").unlink()
    _resum(top)


def _edit_ops_doc_only(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    (top / "OPS.md").write_text("run it anywhere\n")
    _resum(top)


def _edit_sbom(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    sbom = json.loads((top / "sbom.cdx.json").read_text())
    sbom["components"] = [c for c in sbom["components"] if c["name"] != "onnxruntime"]  # hide a package
    (top / "sbom.cdx.json").write_text(json.dumps(sbom))
    _resum(top)


def _resign_with_other_key(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    _edit_ops_doc_only(top, keys)
    (top / SIGNATURE_NAME).unlink()
    sign_folder(top, keys["other"][0])


def _drop_signature(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    (top / SIGNATURE_NAME).unlink()


def _flip_signature_byte(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    envelope = json.loads((top / SIGNATURE_NAME).read_text())
    sig = envelope["dsseEnvelope"]["signatures"][0]["sig"]
    envelope["dsseEnvelope"]["signatures"][0]["sig"] = ("B" if sig[5] != "B" else "C").join((sig[:5], sig[6:]))
    (top / SIGNATURE_NAME).write_text(json.dumps(envelope))


def _garble_signature(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    (top / SIGNATURE_NAME).write_text("{not json")


TAMPERS: list[tuple[str, Callable[..., None], str, str]] = [
    # (case, what is done to the unpacked signed bundle, the check that fails, words of its message)
    ("unsigned", _drop_signature, "signature", "the bundle is not signed"),
    ("changed-file-sums-recomputed", _change_model, "signature", "changed after signing: SHA256SUMS, build/SHA256SUMS"),
    ("added-file-sums-recomputed", _add_file, "signature", "added after signing: lib/libnvinfer_plugin.so"),
    ("removed-file-sums-recomputed", _remove_file, "signature", "removed after signing: sbom.cdx.json"),
    ("sbom-edited-sums-recomputed", _edit_sbom, "signature", "changed after signing: SHA256SUMS, sbom.cdx.json"),
    ("re-signed-by-another-key", _resign_with_other_key, "signature", "signed by another key"),
    ("signature-bytes-altered", _flip_signature_byte, "signature", "does not verify with the trusted key"),
    ("signature-not-json", _garble_signature, "signature", "unreadable or malformed signature"),
]


def _signed_bundle(build: Path, tmp_path: Path, private: Path) -> Path:
    return make_bundle(build, tmp_path / "signed.tar.gz", sign_key=private).path


def _as(form: str, top: Path, tmp_path: Path) -> Path:
    """The tampered bundle as ops would get it: packed again into an archive, or the folder itself."""
    if form == "folder":
        return top
    entries = {p.relative_to(top).as_posix(): p for p in sorted(top.rglob("*")) if p.is_file()}
    write_tar_gz(tmp_path / "tampered.tar.gz", top.name, entries, 0)
    return tmp_path / "tampered.tar.gz"


@pytest.mark.parametrize("form", ["archive", "folder"])
def test_a_signed_bundle_verifies_with_its_key_and_only_with_it(build, keys, tmp_path, form):
    bundle = _signed_bundle(build, tmp_path, keys["ops"][0])
    target = bundle if form == "archive" else unpack_bundle(bundle, tmp_path / "out")
    report = verify_path(target, run_inference=False, trusted_key=keys["ops"][1])
    assert report.verdict == "GO", report.checks
    passed = {c.name: c.message for c in report.checks if c.status == "pass"}
    assert "signed by the trusted key" in passed["signature"] and "agrees with the manifest" in passed["provenance"]
    wrong = verify_path(target, run_inference=False, trusted_key=keys["other"][1])
    assert wrong.verdict == "NO-GO" and wrong.exit_code() == 5
    assert [c.name for c in wrong.checks if c.status == "fail"] == ["signature"]
    assert "signed by another key" in next(c.message for c in wrong.checks if c.status == "fail")


@pytest.mark.parametrize("form", ["archive", "folder"])
@pytest.mark.parametrize(("case", "tamper", "check", "words"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_every_tamper_is_a_named_no_go(build, keys, tmp_path, form, case, tamper, check, words):
    bundle = _signed_bundle(build, tmp_path, keys["ops"][0])
    top = unpack_bundle(bundle, tmp_path / "out")
    tamper(top, keys)
    report = verify_path(_as(form, top, tmp_path), run_inference=False, trusted_key=keys["ops"][1])
    assert report.verdict == "NO-GO" and report.exit_code() == 5
    first = next(c for c in report.checks if c.status == "fail")
    assert (first.name, words in first.message) == (check, True), report.checks
    assert SIGNATURE_NAME in first.message
    if case != "unsigned":  # the forger recomputed SHA256SUMS: only the signature can tell
        assert [c.name for c in report.checks if c.status == "fail"] == ["signature"], report.checks


_DEFINITION = ("predicate", "buildDefinition")
LIES = [
    # (the field named in the NO-GO, where the signed statement lies, the false value)
    (
        "resolvedDependencies[weights].digest.sha256",
        (*_DEFINITION, "resolvedDependencies", 0, "digest", "sha256"),
        "0" * 64,
    ),
    ("profile", (*_DEFINITION, "externalParameters", "profile", "name"), "h100-fp16"),
    (
        "resolvedDependencies[base-image].uri",
        (*_DEFINITION, "resolvedDependencies", 3, "uri"),
        "other@sha256:" + "e" * 64,
    ),
    ("host", (*_DEFINITION, "internalParameters", "host", "machine"), "aarch64"),
    ("builder", ("predicate", "runDetails", "builder", "version", "engine-foundry"), "9.9.9"),
    ("subject[metadata.json].digest", ("subject", 0, "digest", "sha256"), "1" * 64),
    ("subject", ("subject",), []),
]


@pytest.mark.parametrize("form", ["archive", "folder"])
@pytest.mark.parametrize(("field", "where", "value"), LIES, ids=[lie[0] for lie in LIES])
def test_a_signed_provenance_that_disagrees_with_the_manifest_is_a_named_no_go(
    build, keys, tmp_path, form, field, where, value
):
    """A trusted signer who signed a false provenance: the signature holds, the provenance check names the field."""
    top, entries, _ = bundle_entries(build)
    statement = json.loads(provenance_bytes(read_manifest(build / "manifest.json")))
    parent = statement
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = value
    entries[PROVENANCE_NAME] = json.dumps(statement).encode()
    entries["SHA256SUMS"] = format_sums(
        (rel, sha256_file(v) if isinstance(v, Path) else hashlib.sha256(v).hexdigest())
        for rel, v in entries.items()
        if rel != "SHA256SUMS"
    ).encode()
    entries[SIGNATURE_NAME] = signature_for(top, entries, keys["ops"][0])
    write_tar_gz(tmp_path / "lying.tar.gz", top, entries, 0)
    target = tmp_path / "lying.tar.gz"
    if form == "folder":
        target = unpack_bundle(target, tmp_path / "out")
    report = verify_path(target, run_inference=False, trusted_key=keys["ops"][1])
    failed = [c for c in report.checks if c.status == "fail"]
    assert report.exit_code() == 5 and {c.name for c in failed} == {"provenance"}, report.checks
    assert field in failed[0].message and "but the manifest says" in failed[0].message


def test_without_a_trusted_key_the_signature_is_reported_not_required(build, keys, tmp_path):
    unsigned = make_bundle(build, tmp_path / "plain.tar.gz").path
    report = verify_path(unsigned, run_inference=False)
    assert report.verdict == "GO"
    assert ("signature", "skip") in {(c.name, c.status) for c in report.checks}
    required = verify_path(unsigned, run_inference=False, trusted_key=keys["ops"][1])
    assert required.exit_code() == 5 and "not signed" in next(c.message for c in required.checks if c.status == "fail")


def test_a_bundle_without_provenance_is_a_no_go_only_when_a_key_is_required(build, keys, tmp_path):
    """A bundle made before provenance statements: still verifiable, but never trusted."""
    top = unpack_bundle(make_bundle(build, tmp_path / "old.tar.gz").path, tmp_path / "out")
    (top / PROVENANCE_NAME).unlink()
    _resum(top)
    assert verify_path(top, run_inference=False).verdict == "GO"
    sign_folder(top, keys["ops"][0])
    report = verify_path(top, run_inference=False, trusted_key=keys["ops"][1])
    failed = [c for c in report.checks if c.status == "fail"]
    assert [c.name for c in failed] == ["provenance"] and "carries no provenance" in failed[0].message


def test_signing_is_offline_and_two_signed_bundles_differ_only_in_the_signature(build, keys, tmp_path, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("signing tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    first = make_bundle(build, tmp_path / "a" / "x.tar.gz", sign_key=keys["ops"][0])
    second = make_bundle(build, tmp_path / "b" / "x.tar.gz", sign_key=keys["ops"][0])
    assert SIGNATURE_NAME in first.files and "SHA256SUMS" in first.files
    tops = [unpack_bundle(result.path, tmp_path / f"out{i}") for i, result in enumerate((first, second))]
    contents = [{p.relative_to(top).as_posix(): p.read_bytes() for p in top.rglob("*") if p.is_file()} for top in tops]
    signatures = [c.pop(SIGNATURE_NAME) for c in contents]
    assert contents[0] == contents[1] and signatures[0] != signatures[1]  # ECDSA signatures are randomised
    for result in (first, second):
        assert verify_path(result.path, run_inference=False, trusted_key=keys["ops"][1]).verdict == "GO"


def test_the_signed_statement_lists_every_file_but_itself(build, keys, tmp_path):
    import base64

    top = unpack_bundle(make_bundle(build, tmp_path / "s.tar.gz", sign_key=keys["ops"][0]).path, tmp_path / "o")
    envelope = json.loads((top / SIGNATURE_NAME).read_text())["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    signed = {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}
    files = {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()} - {SIGNATURE_NAME}
    assert set(signed) == files and signed["build/model.ort.onnx"] == sha256_file(top / "build/model.ort.onnx")


def _ed25519(folder: Path) -> Path:
    key = ed25519.Ed25519PrivateKey.generate()
    path = folder / "ed.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


@pytest.mark.parametrize(
    ("case", "make", "words"),
    [
        ("missing", lambda d, k: d / "nope.pem", "no such file"),
        ("not-pem", lambda d, k: (d / "x.pem").write_text("hello") and d / "x.pem", "not a usable EC private key"),
        ("public-key", lambda d, k: k["ops"][1], "not a usable EC private key"),
        ("ed25519", lambda d, k: _ed25519(d), "not an elliptic-curve key"),
        ("secp256k1", lambda d, k: _key_pair(d, "k1", ec.SECP256K1())[0], "not a usable EC private key"),
    ],
)
def test_a_bad_sign_key_is_one_usage_error_with_a_tip(build, keys, tmp_path, capsys, case, make, words):
    key = make(tmp_path, keys)
    with pytest.raises(UsageError, match=words):
        make_bundle(build, tmp_path / "x.tar.gz", sign_key=key)
    assert not (tmp_path / "x.tar.gz").exists()
    code = main(["bundle", "--profile", "tiny", "--artifacts", str(tmp_path / "artifacts"), "--sign-key", str(key)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("ERROR ") == 1 and "TIP " in err and "openssl ecparam" in err


@pytest.mark.parametrize(
    ("case", "make", "words"),
    [
        ("missing", lambda d, k: d / "nope.pem", "no such file"),
        ("private-key-given", lambda d, k: k["ops"][0], "not a PEM EC public key"),
        ("not-pem", lambda d, k: (d / "x.pem").write_text("hello") and d / "x.pem", "not a PEM EC public key"),
    ],
)
def test_a_bad_trusted_key_is_a_usage_error_not_a_verdict(build, keys, tmp_path, capsys, case, make, words):
    bundle = _signed_bundle(build, tmp_path, keys["ops"][0])
    key = make(tmp_path, keys)
    with pytest.raises(UsageError, match=words):
        verify_path(bundle, run_inference=False, trusted_key=key)
    assert main(["verify", str(bundle), "--no-run", "--trusted-key", str(key)]) == 2
    err = capsys.readouterr().err
    assert err.count("ERROR ") == 1 and "TIP " in err


def test_the_cli_signs_then_verifies_and_a_tamper_exits_5_with_one_error_line(build, keys, tmp_path, capsys):
    out = tmp_path / "cli.tar.gz"
    args = ["bundle", "--profile", "tiny", "--artifacts", str(tmp_path / "artifacts"), "--output", str(out)]
    assert main([*args, "--sign-key", str(keys["ops"][0])]) == 0
    assert f"signed with {keys['ops'][0]}" in capsys.readouterr().out
    assert main(["verify", str(out), "--no-run", "--trusted-key", str(keys["ops"][1])]) == 0
    assert capsys.readouterr().out.strip().endswith(f"GO: {out}")
    top = unpack_bundle(out, tmp_path / "x")
    _change_model(top, keys)
    assert main(["verify", str(top), "--no-run", "--trusted-key", str(keys["ops"][1])]) == 5
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("ERROR ")] == [
        f"ERROR {top / SIGNATURE_NAME}: the files differ from what was signed (changed after signing: "
        "SHA256SUMS, build/SHA256SUMS, build/manifest.json, build/model.ort.onnx, provenance.intoto.json, "
        "triton/tiny/1/model.onnx)"
    ]


def test_a_build_folder_with_a_trusted_key_is_a_no_go(build, keys):
    report = verify_path(build, run_inference=False, trusted_key=keys["ops"][1])
    assert report.exit_code() == 5 and "a build folder is not signed" in report.checks[0].message


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
def test_the_documented_openssl_key_pair_signs_and_verifies(build, tmp_path):
    """docs/ops.md's key commands: a SEC1 P-256 key from `openssl ecparam`, its public half from `openssl ec`."""
    key, pub = tmp_path / "sign-key.pem", tmp_path / "sign-pub.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    bundle = _signed_bundle(build, tmp_path, key)
    assert verify_path(bundle, run_inference=False, trusted_key=pub).verdict == "GO"


def test_without_the_library_signing_and_checking_are_one_host_error(build, keys, tmp_path, monkeypatch, capsys):
    """The build images (where a TensorRT bundle's `verify` runs) do not carry model-signing: exit 3, not a trace."""
    bundle = _signed_bundle(build, tmp_path, keys["ops"][0])
    monkeypatch.setitem(sys.modules, "model_signing", None)  # `import model_signing` raises ImportError
    assert main(["verify", str(bundle), "--no-run", "--trusted-key", str(keys["ops"][1])]) == 3
    err = capsys.readouterr().err
    assert err.count("ERROR ") == 1 and "model-signing" in err and "scripts/setup-env verify" in err
    with pytest.raises(HostEnvironmentError, match="model-signing"):
        make_bundle(build, tmp_path / "y.tar.gz", sign_key=keys["ops"][0])
    assert verify_path(bundle, run_inference=False).verdict == "GO"  # without --trusted-key nothing needs it


@pytest.mark.parametrize(("passphrase", "signs"), [("s3cret", True), ("wrong", False), (None, False)])
def test_an_encrypted_key_signs_with_its_passphrase_from_the_environment(
    build, keys, tmp_path, monkeypatch, passphrase, signs
):
    key = serialization.load_pem_private_key(keys["ops"][0].read_bytes(), None)
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    if passphrase is None:
        monkeypatch.delenv("ENGINE_FOUNDRY_SIGN_KEY_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("ENGINE_FOUNDRY_SIGN_KEY_PASSWORD", passphrase)
    if not signs:
        with pytest.raises(UsageError, match="not a usable EC private key"):
            make_bundle(build, tmp_path / "e.tar.gz", sign_key=encrypted)
        return
    bundle = make_bundle(build, tmp_path / "e.tar.gz", sign_key=encrypted).path
    assert verify_path(bundle, run_inference=False, trusted_key=keys["ops"][1]).verdict == "GO"


# --- a signed fleet: one signature over every build, checked by `verify --select --trusted-key` -------------------


def _resum_fleet(top: Path, profile: str) -> None:
    """The careful forger, in a fleet: recompute the build's sums, then the fleet's, over what the folders hold."""
    _resum(top / "builds" / profile)
    skip = {top / "SHA256SUMS", top / SIGNATURE_NAME}
    files = sorted(p for p in top.rglob("*") if p.is_file() and p not in skip)
    (top / "SHA256SUMS").write_text(format_sums((p.relative_to(top).as_posix(), sha256_file(p)) for p in files))


def _edit_build_file(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    (top / "builds/tiny/OPS.md").write_text((top / "builds/tiny/OPS.md").read_text() + "\nrun it as root\n")
    _resum_fleet(top, "tiny")


def _drop_provenance_and_resign(top: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    """The trusted signer signs a fleet whose build lacks its provenance: the signature holds, provenance does not."""
    (top / "builds/tiny" / PROVENANCE_NAME).unlink()
    _resum_fleet(top, "tiny")
    sign_folder(top, keys["ops"][0])


FLEET_CASES: dict[str, tuple[str | None, str, Callable[..., None] | None, str]] = {
    # case -> (signing key, trusted key, tamper of the unpacked fleet, what the report names)
    "signed-right-key": ("ops", "ops", None, ""),
    "wrong-key": ("ops", "other", None, "signature"),
    "unsigned": (None, "ops", None, SIGNATURE_NAME),
    "build-file-edited-sums-recomputed": ("ops", "ops", _edit_build_file, "builds/tiny/OPS.md"),
    "build-provenance-removed-re-signed": ("ops", "ops", _drop_provenance_and_resign, PROVENANCE_NAME),
}


@pytest.mark.parametrize("case", FLEET_CASES)
def test_a_signed_fleet_is_checked_whole_by_verify_select(published_tiny, keys, tmp_path, capsys, case):
    """The fleet's one ``model.sig`` covers every build under builds/<profile>/ (none of them carries its own):
    GO with the signer's key; NO-GO (exit 5) with another key, unsigned, or a file of a build edited after signing
    (sums recomputed); the chosen build's provenance is required as for a single signed bundle."""
    from builder.ops.fleet_bundle import make_fleet_bundle
    from tests.faults.harness import latest_target

    signer, trusted, tamper, named = FLEET_CASES[case]
    tiny = latest_target(published_tiny / "artifacts" / "tiny")
    assert tiny is not None
    sign_key = keys[signer][0] if signer else None
    archive = make_fleet_bundle([tiny], tmp_path / "fleet.tar.gz", sign_key=sign_key).path
    target = archive
    if tamper is not None:
        target = unpack_bundle(archive, tmp_path / "out")
        assert not (target / "builds/tiny" / SIGNATURE_NAME).exists()  # the fleet's signature is the one
        tamper(target, keys)
    capsys.readouterr()
    code = main(["verify", "--select", str(target), "--trusted-key", str(keys[trusted][1])])
    out = capsys.readouterr().out
    if named:
        assert code == 5 and "NO-GO" in out and named in out, out
    else:
        assert code == 0 and "GO" in out, out
        assert "PASS signature" in out and "PASS provenance" in out and "chose tiny" in out, out
