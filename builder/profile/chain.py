"""A profile file and its ``extends`` bases, read and merged (base first, child wins)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.errors import FieldError, ProfileError
from builder.profile.fields import PROFILE
from builder.profile.kinds import did_you_mean
from builder.profile.sections import Field
from builder.profile.source import KeyPath, YamlDocument, format_key_path, read_yaml_document

MAX_DEPTH = 16
_PER_FILE = {spec.name for spec in PROFILE.fields if spec.per_file}
_REPLACED = {spec.name for spec in PROFILE.fields if spec.replace_on_extend}


@dataclass
class ProfileChain:
    """The files of one profile, leaf first, and their merged data.

    ``broken`` is set when a base could not be found or read: the merged data
    is then incomplete and only checked for what is written.
    """

    leaf: Path
    docs: list[YamlDocument] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldError] = field(default_factory=list)
    broken: bool = False

    @property
    def abstract(self) -> bool:
        return self.leaf.stem.startswith("_")

    def locate(self, path: KeyPath) -> tuple[str, int | None]:
        """File and line of ``path``: the most derived file that writes it (or its nearest parent)."""
        for depth in range(len(path), 0, -1):
            for doc in self.docs:
                if path[:depth] in doc.lines:
                    return str(doc.path), doc.lines[path[:depth]]
        return str(self.leaf), None


def read_profile_chain(path: Path) -> ProfileChain:
    """Read ``path`` and every base it extends; merge them.

    Raises:
        ProfileError: only when ``path`` itself cannot be read; problems in bases are collected.
    """
    chain = ProfileChain(leaf=path)
    doc: YamlDocument | None = read_yaml_document(path)
    while doc is not None:
        chain.docs.append(doc)
        chain.problems.extend(doc.problems)
        _check_name(doc, chain)
        doc = _read_base(doc, chain)
    merged: dict[str, Any] = {}
    for doc in reversed(chain.docs):
        merged = _merge(merged, {k: v for k, v in doc.data.items() if k not in _PER_FILE}, top=True)
    if "name" in chain.docs[0].data:
        merged = {"name": chain.docs[0].data["name"], **merged}
    chain.data = merged
    return chain


def _problem(chain: ProfileChain, doc: YamlDocument, key: str, message: str) -> None:
    chain.problems.append(FieldError(str(doc.path), format_key_path((key,)), message, doc.lines.get((key,))))


def _check_name(doc: YamlDocument, chain: ProfileChain) -> None:
    name = doc.data.get("name")
    if name is None:
        _problem(chain, doc, "name", "missing required key 'name'")
    elif isinstance(name, str) and name != doc.path.stem:
        _problem(chain, doc, "name", f"{name!r} must equal the file name without .yaml ({doc.path.stem!r})")


def _read_base(doc: YamlDocument, chain: ProfileChain) -> YamlDocument | None:
    base = doc.data.get("extends")
    if base is None:
        return None
    spec: Field = PROFILE.field("extends")
    before = len(chain.problems)
    _KindCheck(chain, doc).run(spec, base)
    if len(chain.problems) > before:
        chain.broken = True
        return None
    names = [d.path.stem for d in chain.docs]
    if base in names:
        _problem(chain, doc, "extends", "extends cycle: " + " -> ".join([*names, base]))
    elif len(chain.docs) >= MAX_DEPTH:
        _problem(chain, doc, "extends", f"more than {MAX_DEPTH} levels of extends")
    else:
        base_path = doc.path.parent / f"{base}.yaml"
        if not base_path.exists():  # a FIFO or folder is read (and refused, named) by read_yaml_document
            names = sorted(p.stem for p in doc.path.parent.glob("*.yaml"))
            shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
            _problem(
                chain,
                doc,
                "extends",
                f"no profile {base!r} in {doc.path.parent}{did_you_mean(base, names)} (available: {shown or 'none'})",
            )
        else:
            try:
                return read_yaml_document(base_path)
            except ProfileError as exc:
                chain.problems.extend(exc.errors)
    chain.broken = True
    return None


class _KindCheck:
    """Runs one field's kind on one file's value, reporting into the chain."""

    def __init__(self, chain: ProfileChain, doc: YamlDocument) -> None:
        self.chain, self.doc, self.complete = chain, doc, False

    def run(self, spec: Field, value: Any) -> None:
        spec.kind.check(value, (spec.name,), self)

    def add(self, path: KeyPath, message: str) -> None:
        self.chain.problems.append(
            FieldError(str(self.doc.path), format_key_path(path), message, self.doc.lines.get(path))
        )


def _merge(base: dict[str, Any], child: dict[str, Any], *, top: bool) -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and not (top and key in _REPLACED):
            out[key] = _merge(old, value, top=False)
        else:
            out[key] = value
    return out
