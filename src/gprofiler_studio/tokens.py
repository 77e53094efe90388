"""Tokens: random, shown once, stored only as a SHA-256 hash."""

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    """A token that is safe to paste after `--token`: URL-safe base64 may start with "-", which
    argparse then reads as an option (`--token -Xy...`: "expected one argument")."""
    while True:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        if not token.startswith("-"):
            return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
