"""Make arbitrary names safe for the collapsed-stack format.

A collapsed line is `frame;frame;...;frame <count>`: a `;` inside a name would split it into two
frames and a newline would split the line. Names come from processes we do not control (a thread
may call itself "a;b\\nc"), so every name goes through `escape_frame` before it enters a stack.
Invalid UTF-8 is decoded with `backslashreplace` by the readers, so it arrives here as `\\xNN` text.
"""

_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", ";": "\\x3b"}


def _escape_char(char: str) -> str:
    known = _CONTROL_ESCAPES.get(char)
    if known is not None:
        return known
    if char.isprintable() or char == " ":
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_frame(name: str) -> str:
    """Escape `;`, newlines and other non-printable characters in one frame or process name, and a
    trailing space (`\x20`): a line's last space separates its count, so a stack that ends in one
    is ambiguous, and studio refuses it."""
    if ";" not in name and name.isprintable() and not name.endswith(" "):
        return name
    escaped = "".join(_escape_char(char) for char in name)
    return escaped[:-1] + "\\x20" if escaped.endswith(" ") else escaped


def decode_name(raw: bytes) -> str:
    """Decode bytes from a tool's output into an escaped frame name (never raises)."""
    return escape_frame(raw.decode("utf-8", "backslashreplace"))
