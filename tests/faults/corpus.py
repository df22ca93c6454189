"""The bad-input corpus: one YAML file per case in tests/data/bad_inputs/, turned into a real CLI run.

A case file (see docs/dev/faults.md for the full format)::

    description: what is wrong, in one sentence
    requires: [root, docker]            # optional: skipped where not available
    slow: true                          # optional
    known_bug: "why it fails today"     # optional: strict xfail until fixed
    setup:
      tiny_profiles: [tiny]             # cpu-fp32 + its base + tiny profiles (imgsz 64) into {profiles}
      profiles: {name.yaml: "text"}     # more profile files
      models: {rel/path: SPEC}          # files under {models}
      files: {rel/path: SPEC}           # files under the case's folder {tmp}
      modes: {rel/path: "0555"}         # chmod after creation (paths relative to {tmp})
    sandbox: unprivileged | readonly-artifacts | tmpfs-artifacts:1m | file-size-limit:65536 | memory-limit:1073741824
    argv: [build, --profile, tiny]      # {tmp} {profiles} {models} {artifacts} {cache} are substituted
    env: {DOCKER_HOST: "unix://{tmp}/nothing.sock"}
    expect:
      exit_code: 2
      error_contains: ["not a YOLO checkpoint"]
      error_excludes: ["aliases"]        # case-insensitive, must not appear in the ERROR lines
      max_error_lines: 60                # at most this many ERROR lines
      tip: true
      several_errors: false             # profile cases may print one ERROR line per problem
      absent: ["{tmp}/pwned"]           # files the run must not create

``SPEC`` is a string (text), or one of ``{text}``, ``{bytes_hex}``, ``{random_bytes: N}``,
``{zip: {member: text}}``, ``{checkpoint: MODEL_YAML, truncate: FRACTION}``,
``{pickle_call: [module, function, argument]}``, ``{dir: true}``, ``{socket: true}``, ``{symlink: target}``,
``{copy_profile: NAME}``, ``{fifo: true}``, ``{sparse: BYTES}``, ``{tar_gz: [MEMBER, ...]}``,
``{repeat: TEXT, times: N, head: TEXT}``
(docs/dev/faults.md describes each).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.faults.harness import REPO, quiet_env, write_tiny_profiles

CASES_DIR = REPO / "tests" / "data" / "bad_inputs"
CASE_KEYS = {"description", "requires", "slow", "known_bug", "setup", "sandbox", "argv", "env", "expect", "timeout"}
EXPECT_KEYS = {"exit_code", "error_contains", "error_excludes", "tip", "several_errors", "absent", "max_error_lines"}
SETUP_KEYS = {"tiny_profiles", "profiles", "models", "files", "modes"}


@dataclass(frozen=True)
class Case:
    name: str
    data: dict[str, Any]

    @property
    def expect(self) -> dict[str, Any]:
        return self.data["expect"]

    @property
    def requires(self) -> list[str]:
        return list(self.data.get("requires", []))


def load_cases() -> list[Case]:
    """Every case file, checked for shape (a typo in a case must not silently weaken it)."""
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a case must be a mapping")
        unknown = set(data) - CASE_KEYS
        missing = {"description", "argv", "expect"} - set(data)
        if unknown or missing:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        if set(data["expect"]) - EXPECT_KEYS or "exit_code" not in data["expect"]:
            raise ValueError(f"{path}: expect takes {sorted(EXPECT_KEYS)} and needs exit_code")
        if set(data.get("setup") or {}) - SETUP_KEYS:
            raise ValueError(f"{path}: setup takes {sorted(SETUP_KEYS)}")
        cases.append(Case(path.stem, data))
    return cases


@dataclass
class Workspace:
    """The folders of one case; every path in a case file is relative to one of them."""

    tmp: Path
    resources: list[Any] = field(default_factory=list)  # open sockets, closed after the run

    @property
    def profiles(self) -> Path:
        return self.tmp / "profiles"

    @property
    def models(self) -> Path:
        return self.tmp / "models"

    @property
    def artifacts(self) -> Path:
        return self.tmp / "artifacts"

    @property
    def cache(self) -> Path:
        return self.tmp / "cache"

    def fmt(self, text: str) -> str:
        """``text`` with the placeholders ``{tmp}``, ``{profiles}``, ``{models}``, ``{artifacts}``, ``{cache}``
        filled in."""
        for name in ("profiles", "models", "artifacts", "cache", "tmp"):
            text = text.replace("{" + name + "}", str(getattr(self, name)))
        return text

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        """The run's environment: the four folders as the CLI's defaults, then the case's variables."""
        defaults = {
            "ENGINE_FOUNDRY_PROFILES": str(self.profiles),
            "ENGINE_FOUNDRY_ARTIFACTS": str(self.artifacts),
            "ENGINE_FOUNDRY_MODELS": str(self.models),
            "ENGINE_FOUNDRY_CACHE": str(self.cache),
        }
        return quiet_env(self.tmp, {**defaults, **{k: self.fmt(str(v)) for k, v in extra.items()}})

    def close(self) -> None:
        for item in self.resources:
            item.close()


class CheckpointMaker:
    """Real ultralytics checkpoints (``YOLO(model_yaml).save()``, seed 0), made once per session."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._made: dict[tuple[str, str], bytes] = {}

    def bytes_of(self, model_yaml: str, poison: str = "") -> bytes:
        """``poison``: "" (none), "nan" (one weight tensor set to NaN) or "huge" (every conv weight set to 6e4, which
        stays finite in the checkpoint's FP16 but overflows to Inf in the forward pass)."""
        if (model_yaml, poison) not in self._made:
            path = self.folder / f"{Path(model_yaml).stem}-{poison or 'clean'}.pt"
            code = (
                "import sys, torch\nfrom ultralytics import YOLO\ntorch.manual_seed(0)\n"
                "yolo = YOLO(sys.argv[1])\n"
                "convs = [m for m in yolo.model.modules() if isinstance(m, torch.nn.Conv2d)]\n"
                "if sys.argv[3] == 'nan':\n    convs[3].weight.data[0, 0, 0, 0] = float('nan')\n"
                "if sys.argv[3] == 'huge':\n    [c.weight.data.fill_(6e4) for c in convs]\n"
                "yolo.save(sys.argv[2])\n"
            )
            subprocess.run(
                [sys.executable, "-c", code, model_yaml, str(path), poison],
                check=True,
                capture_output=True,
                env=quiet_env(self.folder),
                timeout=300,
            )
            self._made[(model_yaml, poison)] = path.read_bytes()
        return self._made[(model_yaml, poison)]


class _Call:
    """Pickles as ``module.function(argument)``: what a malicious checkpoint runs when unpickled."""

    def __init__(self, module: str, function: str, argument: str) -> None:
        self.target = (module, function, argument)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        module, function, argument = self.target
        return getattr(__import__(module), function), (argument,)


def materialise(case: Case, ws: Workspace, checkpoints: Callable[[], CheckpointMaker]) -> None:
    """Create the files a case describes."""
    setup = case.data.get("setup") or {}
    for folder in (ws.profiles, ws.models, ws.cache):
        folder.mkdir(parents=True, exist_ok=True)
    if "tiny_profiles" in setup:
        write_tiny_profiles(ws.profiles, *setup["tiny_profiles"])
    for rel, text in (setup.get("profiles") or {}).items():
        _write(ws.profiles / ws.fmt(rel), text if isinstance(text, dict) else {"text": text}, ws, checkpoints)
    for rel, spec in (setup.get("models") or {}).items():
        _write(ws.models / ws.fmt(rel), spec, ws, checkpoints)
    for rel, spec in (setup.get("files") or {}).items():
        _write(ws.tmp / ws.fmt(rel), spec, ws, checkpoints)
    for rel, mode in (setup.get("modes") or {}).items():
        os.chmod(ws.tmp / ws.fmt(rel), int(str(mode), 8))


def restore_modes(case: Case, ws: Workspace) -> None:
    """Make every chmod-ed path removable again."""
    for rel in (case.data.get("setup") or {}).get("modes") or {}:
        path = ws.tmp / ws.fmt(rel)
        if path.exists() and not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _write(path: Path, spec: Any, ws: Workspace, checkpoints: Callable[[], CheckpointMaker]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, str):
        spec = {"text": spec}
    kind = next(iter(spec))
    if kind == "text":
        path.write_bytes(ws.fmt(spec["text"]).encode("utf-8", "surrogatepass"))
    elif kind == "bytes_hex":
        path.write_bytes(bytes.fromhex(spec["bytes_hex"]))
    elif kind == "random_bytes":
        path.write_bytes(random.Random(path.name).randbytes(int(spec["random_bytes"])))
    elif kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for member, text in spec["zip"].items():
                archive.writestr(member, text)
        path.write_bytes(buffer.getvalue())
    elif kind == "checkpoint":
        data = checkpoints().bytes_of(spec["checkpoint"], str(spec.get("poison", "")))
        fraction = float(spec.get("truncate", 1.0))
        path.write_bytes(data[: int(len(data) * fraction)])
    elif kind == "pickle_call":
        module, function, argument = spec["pickle_call"]
        path.write_bytes(pickle.dumps(_Call(module, function, ws.fmt(argument)), protocol=2))
    elif kind == "dir":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)
        ws.resources.append(listener)
    elif kind == "symlink":
        path.symlink_to(ws.fmt(spec["symlink"]))
    elif kind == "repeat":  # {repeat: "key_{i}: 1\n", times: N, head: "name: x\n"}: generated long files
        body = "".join(spec["repeat"].replace("{i}", str(i)) for i in range(int(spec["times"])))
        path.write_text(ws.fmt(spec.get("head", "")) + body)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "sparse":  # a file of BYTES bytes that takes no disk space (and is slow to read whole)
        with open(path, "wb") as handle:
            handle.truncate(int(spec["sparse"]))
    elif kind == "tar_gz":
        path.write_bytes(_tar_gz(spec["tar_gz"]))
    elif kind == "copy_profile":
        shutil.copy(REPO / "profiles" / f"{spec['copy_profile']}.yaml", path)
    else:
        raise ValueError(f"unknown file spec {kind!r} for {path}")


def _tar_gz(members: list[dict[str, Any]]) -> bytes:
    """A .tar.gz of ``members``: ``{name, type: file|dir|fifo|chr|symlink, text, declared_size}``.

    ``declared_size`` writes a header claiming that many bytes with no data after it (a size bomb's header).
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member["name"])
            kind = member.get("type", "file")
            info.type = {
                "file": tarfile.REGTYPE,
                "dir": tarfile.DIRTYPE,
                "fifo": tarfile.FIFOTYPE,
                "chr": tarfile.CHRTYPE,
                "symlink": tarfile.SYMTYPE,
            }[kind]
            if kind == "symlink":
                info.linkname = member.get("target", "/etc/passwd")
            data = str(member.get("text", "")).encode()
            if "declared_size" in member:
                info.size = int(member["declared_size"])
                tar.fileobj.write(info.tobuf(tar.format, tar.encoding, tar.errors))  # type: ignore[union-attr]
                tar.offset += tarfile.BLOCKSIZE
                continue
            info.size = len(data) if kind == "file" else 0
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return gzip.compress(raw.getvalue(), mtime=0)
