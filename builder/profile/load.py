"""``load_profile``: a profile name or file -> parse -> validate (every problem) -> complete -> :class:`Profile`."""

from __future__ import annotations

import re
from pathlib import Path

from builder.common.safe_io import PROFILE_BYTES, FileReadError, kind_of, read_text
from builder.errors import FieldError, ProfileError
from builder.profile.chain import ProfileChain, read_profile_chain
from builder.profile.complete import profile_from_data
from builder.profile.fields import PROFILE_FILE_PATTERN
from builder.profile.model import Profile
from builder.profile.validate import Report, ValidProfileData, validate

SUFFIXES = (".yaml", ".yml")


def load_profile(ref: str | Path, profiles_dir: Path) -> Profile:
    """Load a buildable profile.

    Args:
        ref: a profile name (read from ``<profiles_dir>/<name>.yaml``) or the path of a ``.yaml`` file.
        profiles_dir: the folder of named profiles.

    Raises:
        ProfileError: the file is missing, unreadable or invalid (every problem listed), or the
            profile is abstract (its name starts with ``_``).
    """
    path = profile_path(ref, profiles_dir)
    chain = read_profile_chain(path)
    valid, errors = check_profile_chain(chain)
    if chain.abstract:
        buildable = _extending(chain.leaf)
        errors.insert(
            0,
            FieldError(
                str(path),
                "name",
                f"profile {path.stem!r} is abstract (its name starts with '_'): it can only be used through `extends`",
                chain.docs[0].lines.get(("name",)),
            ),
        )
        hint = (
            "build a profile that extends it"
            + (f": {', '.join(buildable)}" if buildable else "")
            + f", or write one with `extends: {path.stem}`"
        )
        raise ProfileError(errors, hint=hint)
    if valid is None:
        raise ProfileError(errors)
    return profile_from_data(
        valid,
        source=str(path),
        extends_chain=tuple(str(doc.path) for doc in reversed(chain.docs)),
    )


def check_profile_chain(chain: ProfileChain) -> tuple[ValidProfileData | None, list[FieldError]]:
    """The valid data of a read chain (None: problems, or an abstract or broken chain, which are not checked for
    missing keys) and every problem, in file and line order."""
    report = Report(chain.locate, complete=not (chain.abstract or chain.broken))
    valid = validate(chain.data, report)
    errors = chain.problems + report.errors
    order = {str(doc.path): index for index, doc in enumerate(chain.docs)}
    errors.sort(key=lambda e: (order.get(e.file, len(order)), e.line if e.line is not None else 1 << 30))
    return (valid if not errors else None), errors


def profile_path(ref: str | Path, profiles_dir: Path) -> Path:
    """The file ``ref`` names: ``<profiles_dir>/<ref>.yaml`` for a name, else ``ref`` as a path.

    Raises:
        ProfileError: a bad name, a path that is not ``.yaml``, or no such file (the TIP lists profiles).
    """
    text = str(ref)
    is_path = isinstance(ref, Path) or "/" in text or "\\" in text or text.endswith(SUFFIXES)
    if is_path:
        path = Path(ref)
        if path.suffix not in SUFFIXES:
            raise ProfileError(
                [FieldError(text, "", "a profile file must end in .yaml")], hint=_available_hint(profiles_dir)
            )
    elif not re.match(PROFILE_FILE_PATTERN, text):
        raise ProfileError(
            [FieldError(text, "", "is not a profile name (lowercase letters, digits, '.', '_', '-')")],
            hint=_available_hint(profiles_dir),
        )
    else:
        path = profiles_dir / f"{text}.yaml"
    if not path.is_file():
        what = "no such profile file" if not path.exists() else f"not a file: it is {kind_of(path.stat().st_mode)}"
        hint = _available_hint(profiles_dir)
        if is_path and path.parent == Path(".") and (profiles_dir / path.name).is_file():
            hint = (
                f"a file name is read from the current folder; to use {profiles_dir / path.name}, pass the "
                f"profile name {path.stem!r}"
            )
        raise ProfileError([FieldError(str(path), "", what)], hint=hint)
    return path


def available_profiles(profiles_dir: Path) -> list[str]:
    """Names of the buildable (not abstract) profiles in ``profiles_dir``."""
    if not profiles_dir.is_dir():
        return []
    return sorted(p.stem for p in profiles_dir.glob("*.yaml") if not p.stem.startswith("_"))


def _available_hint(profiles_dir: Path) -> str:
    names = available_profiles(profiles_dir)
    if not profiles_dir.is_dir():
        return (
            f"profiles are looked up in {profiles_dir.absolute()}, which does not exist (the current folder is "
            f"{Path.cwd()}): run from the repository root, or pass --profiles-dir / set ENGINE_FOUNDRY_PROFILES"
        )
    if not names:
        return f"no profiles in {profiles_dir.absolute()}; pass the path of a .yaml profile"
    return f"available profiles in {profiles_dir}: {', '.join(names)} (or pass the path of a .yaml file)"


def _extending(base: Path) -> list[str]:
    """Buildable profiles in the same folder whose ``extends`` names ``base`` (a textual scan, for the hint)."""
    pattern = re.compile(rf"^extends:\s*['\"]?{re.escape(base.stem)}['\"]?\s*(#.*)?$", re.MULTILINE)
    found = []
    for path in sorted(base.parent.glob("*.yaml")):
        if path.stem.startswith("_"):
            continue
        try:
            if pattern.search(read_text(path, what="profile", limit=PROFILE_BYTES, errors="replace")):
                found.append(path.stem)
        except (OSError, FileReadError):  # a FIFO or device among the profiles is reported where it is loaded
            continue
    return found
