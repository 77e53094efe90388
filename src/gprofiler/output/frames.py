"""A frame's text as the agent writes it, split into what other formats keep apart: the function's
name, its file and line where the frame has them, and its kind (the `_[k]`-style suffix).

    gp_leaf (/srv/app.py:11)_[p]      Python (py-spy):  name (file:line)
    gp_leaf - /srv/app.rb:13_[rb]     Ruby (rbspy):     name - file:line
    gpLeaf /srv/app.js:1_[js]         Node.js, PHP:     name file:line
    Busy.spin_[j]                     Java: no file or line
    vfs_read_[k]                      kernel
    main.gpLeaf (./main.go:17)        native: no suffix; a file and line only from another tool's pprof
"""

import re
from dataclasses import dataclass

KINDS = {"k": "kernel", "p": "Python", "pe": "Python", "j": "Java", "i": "Java (inlined)",
         "js": "JavaScript", "rb": "Ruby", "php": "PHP"}  # fmt: skip
_KIND = re.compile(r"_\[([a-z]{1,3})\]\Z")
_LINE = "([1-9][0-9]{0,8})"
# Each runtime's form (a frame that does not match it keeps its whole text as the name, so that
# rebuilding a frame from its parts always gives its text back).
_WHERE = {
    "p": re.compile(r"(?s)(.+) \(([^()]+):" + _LINE + r"\)\Z"),  # name (file:line)
    "rb": re.compile(r"(?s)(.+) - (\S.*):" + _LINE + r"\Z"),  # name - file:line
    "js": re.compile(r"(?s)(.+) (\S+):" + _LINE + r"\Z"),  # name file:line
}
# native frames (and other tools' frames read from pprof) are written `name (file:line)` when they have
# a file and line, as Python's
_WHERE |= {"pe": _WHERE["p"], "php": _WHERE["js"], "": _WHERE["p"]}


@dataclass(frozen=True)
class FrameParts:
    name: str  # the function, without file, line or kind
    file: str  # "" when the frame has none
    line: int  # 0 when the frame has none
    kind: str  # the suffix's letters ("p", "k", ...), "" for a native frame


def split_frame(text: str) -> FrameParts:
    kind_match = _KIND.search(text)
    kind = ""
    if kind_match is not None and kind_match.group(1) in KINDS:
        kind, text = kind_match.group(1), text[: kind_match.start()]
    pattern = _WHERE.get(kind)
    found = pattern.match(text) if pattern is not None else None
    if found is not None:
        return FrameParts(found.group(1), found.group(2), int(found.group(3)), kind)
    return FrameParts(text, "", 0, kind)


def frame_text(parts: FrameParts) -> str:
    """The frame's text from its parts, in its kind's form: `frame_text(split_frame(t)) == t`."""
    suffix = f"_[{parts.kind}]" if parts.kind else ""
    if not parts.file:
        return parts.name + suffix
    where = f"{parts.file}:{parts.line}" if parts.line > 0 else parts.file
    if parts.kind in ("rb",):
        return f"{parts.name} - {where}{suffix}"
    if parts.kind in ("js", "php"):
        return f"{parts.name} {where}{suffix}"
    return f"{parts.name} ({where}){suffix}"
