"""Malformed but checksummed manifests: ``verify`` trusts nothing it reads.

Each case of tests/data/bad_manifests/ edits the manifest of a real published build (or of a real bundle of it) and
rewrites every ``SHA256SUMS`` so the checksums agree: only the manifest's content is wrong. ``verify`` must say NO-GO
with exit 5, name the field in its ERROR line, print no traceback and never run the load check on what it could not
validate. A case file::

    description: what is wrong, in one sentence
    in: [folder, bundle]          # optional (default [folder]): a build folder, a bundle, or both
    set: {"artifacts[2].path": ../x, profile.resolved.imgsz: huge}   # dotted keys, [i] for list items; "" = all
    delete: [profile.resolved]    # optional
    append: {artifacts: {...}}    # optional: one more list item
    raw: [{find: '"p50": [^,]+', replace: ['"p50": NaN']}]   # optional: edits of the JSON text (after the
                                  # others), each a regular expression replaced once; a part [text, n] is text n times
    expect: {exit_code: 5, error_contains: [profile.resolved.imgsz]}

The ``raw`` cases are the JSON that Python's parser mishandles or our records cannot hold
(builder/common/strict_json.py):
NaN and Infinity, numbers too large, integers past 64 bits, duplicate keys, lone surrogates, nesting too deep.

Cases run in-process through ``builder.cli.main`` (the same error boundary, a fraction of a second each); the first
case also runs through a real ``python -m builder`` for the folder and the bundle.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from builder.common.hashing import SUMS_NAME, format_sums, parse_sums, sha256_file
from tests.faults.harness import REPO, CliResult, latest_target, quiet_env, run_cli, user_error_problems
from tests.support import unpack_bundle

CASES_DIR = REPO / "tests" / "data" / "bad_manifests"
CASE_KEYS = {"description", "in", "set", "delete", "append", "raw", "expect"}


def _load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        case = yaml.safe_load(path.read_text())
        unknown, missing = set(case) - CASE_KEYS, {"description", "expect"} - set(case)
        assert not unknown and not missing, f"{path}: unknown keys {sorted(unknown)}, missing {sorted(missing)}"
        assert {"set", "delete", "append", "raw"} & set(case), f"{path}: a case changes something"
        for where in case.get("in", ["folder"]):
            assert where in ("folder", "bundle"), f"{path}: 'in' takes folder and bundle"
            params.append(pytest.param(case, where, id=f"{path.stem}-{where}"))
    return params


CASES = _load_cases()


def _split(dotted: str) -> list[str | int]:
    """``"artifacts[2].path"`` -> ``["artifacts", 2, "path"]``."""
    return [int(part[1:-1]) if part.startswith("[") else part for part in re.findall(r"\[\d+\]|[^.\[\]]+", dotted)]


def edited(manifest: Any, case: dict[str, Any]) -> Any:
    """The manifest after the case's ``set``, ``delete`` and ``append``."""
    for dotted, value in (case.get("set") or {}).items():
        keys = _split(dotted)
        if not keys:
            manifest = value
            continue
        parent = manifest
        for key in keys[:-1]:
            parent = parent[key]
        parent[keys[-1]] = value
    for dotted in case.get("delete") or []:
        keys = _split(dotted)
        parent = manifest
        for key in keys[:-1]:
            parent = parent[key]
        del parent[keys[-1]]
    for dotted, item in (case.get("append") or {}).items():
        parent = manifest
        for key in _split(dotted):
            parent = parent[key]
        parent.append(item)
    return manifest


def raw_edited(text: str, case: dict[str, Any]) -> str:
    """``text`` after the case's ``raw`` edits: each ``find`` (a regular expression) replaced once by the joined
    ``replace`` parts, a part ``[text, n]`` standing for ``text`` n times."""
    for edit in case.get("raw") or []:
        new = "".join(part if isinstance(part, str) else part[0] * part[1] for part in edit["replace"])
        text, count = re.subn(edit["find"], lambda _, new=new: new, text, count=1)  # taken as is: no \1 or \\
        assert count == 1, f"{edit['find']!r} is not in the manifest"
    return text


def _resum(folder: Path) -> None:
    """Rewrite ``folder/SHA256SUMS`` for the files it lists (and only those) that are present."""
    sums = parse_sums((folder / SUMS_NAME).read_text())
    fresh = {rel: sha256_file(folder / rel) if (folder / rel).is_file() else digest for rel, digest in sums.items()}
    (folder / SUMS_NAME).write_text(format_sums(fresh.items()))


@pytest.fixture(scope="session")
def good_bundle(published_tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle (``python -m builder bundle``) of the shared published build."""
    out = tmp_path_factory.mktemp("bundle") / "tiny.tar.gz"
    result = run_cli(
        ["bundle", "--profile", "tiny", "--artifacts", str(published_tiny / "artifacts"), "--output", str(out)],
        cwd=published_tiny,
        env=quiet_env(published_tiny),
    )
    assert result.returncode == 0, result.describe()
    return out


def make_target(case: dict[str, Any], where: str, published: Path, bundle: Path, tmp: Path) -> Path:
    """A copy of the good build folder or bundle whose manifest the case edits, with agreeing checksums."""
    if where == "folder":
        source = latest_target(published / "artifacts" / "tiny")
        assert source is not None
        build = Path(shutil.copytree(source, tmp / source.name))
        top = None
    else:
        top = unpack_bundle(bundle, tmp / "unpacked")
        build = top / "build"
    manifest_path = build / "manifest.json"
    text = json.dumps(edited(json.loads(manifest_path.read_text()), case), indent=2)
    manifest_path.write_text(raw_edited(text, case))
    _resum(build)
    if top is None:
        return build
    _resum(top)
    archive = tmp / bundle.name
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(top, arcname=top.name)
    return archive


def _verify_in_process(target: Path, capsys: pytest.CaptureFixture[str]) -> CliResult:
    from builder.cli import main

    capsys.readouterr()
    code = main(["verify", str(target)])
    out = capsys.readouterr()
    return CliResult(("verify", str(target)), code, out.out, out.err)


def _judge(case: dict[str, Any], target: Path, result: CliResult) -> None:
    expect = case["expect"]
    problems = user_error_problems(result, exit_code=expect["exit_code"], contains=expect.get("error_contains", []))
    if "PASS load" in result.stdout:
        problems.append("the load check ran on a manifest that does not validate")
    if f"NO-GO: {target}" not in result.stdout:
        problems.append("no NO-GO line for the target")
    assert not problems, f"{case['description']}\n" + "\n".join(problems) + "\n" + result.describe()


@pytest.mark.parametrize(("case", "where"), CASES)
def test_a_malformed_checksummed_manifest_is_no_go_naming_the_field(
    case: dict[str, Any],
    where: str,
    published_tiny: Path,
    good_bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = make_target(case, where, published_tiny, good_bundle, tmp_path)
    _judge(case, target, _verify_in_process(target, capsys))


@pytest.mark.parametrize("where", ["folder", "bundle"])
def test_the_real_cli_says_no_go_for_an_imgsz_that_is_a_word(
    where: str, published_tiny: Path, good_bundle: Path, tmp_path: Path
) -> None:
    case = yaml.safe_load((CASES_DIR / "resolved-imgsz-a-word.yaml").read_text())
    target = make_target(case, where, published_tiny, good_bundle, tmp_path)
    _judge(case, target, run_cli(["verify", str(target)], cwd=tmp_path, env=quiet_env(tmp_path)))


@pytest.mark.parametrize("where", ["folder", "bundle"])
def test_an_unedited_copy_made_the_same_way_is_go(
    where: str, published_tiny: Path, good_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The copying and re-summing above change nothing by themselves: the cases fail for their edit alone."""
    target = make_target({"set": {}}, where, published_tiny, good_bundle, tmp_path)
    result = _verify_in_process(target, capsys)
    assert result.returncode == 0, result.describe()
    assert "PASS load" in result.stdout and f"GO: {target}" in result.stdout


def test_there_are_cases_of_every_part_verify_reads() -> None:
    touched = {
        next(iter(_split(key)), "")
        for c in CASES
        for key in [
            *(c.values[0].get("set") or {}),
            *(c.values[0].get("delete") or []),
            *(c.values[0].get("append") or {}),
        ]
    }
    assert {"profile", "artifacts", "environment", "stages", "status", "error", "schema_version", ""} <= touched
