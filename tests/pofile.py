"""A small reader of gettext .po files, enough for the catalogue tests (no msgfmt needed)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgctxt: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> str:
        """The key the compiled catalogue (.mo) stores it under."""
        return self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"

    @property
    def translated(self) -> bool:
        if self.msgid_plural:
            return bool(self.msgstr_plural) and all(self.msgstr_plural.values())
        return bool(self.msgstr)


def _unquote(text: str) -> str:
    value = ast.literal_eval(text)
    assert isinstance(value, str)
    return value


def read(path: Path) -> list[Entry]:
    """Every entry of a .po file, the header (msgid "") first."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None

    def finish() -> None:
        nonlocal current
        if current is not None:
            entries.append(current)
        current = None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#~"):
            if (current is not None and current.msgid != "") or target is not None:
                finish()
                target = None
            continue
        if not line:
            finish()
            target = None
            continue
        if line.startswith("#,"):
            if current is not None and target is not None:
                finish()
                target = None
            current = current or Entry()
            current.flags.update(f.strip() for f in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        if current is None:
            current = Entry()
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            assert target is not None, f"{path}: a string outside an entry: {raw!r}"
            name, index = target
            _append(current, name, index, _unquote(line))
            continue
        if keyword == "msgctxt" and target is not None and target[0] != "msgctxt":
            finish()
            current = Entry()
        if keyword.startswith("msgstr["):
            index = int(keyword[len("msgstr[") : -1])
            target = ("msgstr_plural", index)
            current.msgstr_plural[index] = ""
        else:
            target = (keyword, None)
            if keyword == "msgctxt":
                current.msgctxt = ""
        _append(current, target[0], target[1], _unquote(rest))
    finish()
    return entries


def _append(entry: Entry, name: str, index: int | None, text: str) -> None:
    if index is not None:
        entry.msgstr_plural[index] += text
    else:
        setattr(entry, name, (getattr(entry, name) or "") + text)
