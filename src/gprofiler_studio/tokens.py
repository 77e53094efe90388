"""Tokens: random, shown once, stored only as a SHA-256 hash; what each may do and upload."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_BYTES = 32
ID_LENGTH = 12  # hex digits of the hash that name a token in `token list` / `token revoke`


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


@dataclass(frozen=True)
class Budget:
    """What one token may upload: profiles per minute and compressed bytes per UTC day (0: no limit).

    The defaults take a service of ~600 hosts at gprofiler's 60 s cycles; a token that leaks can
    then add at most ~10 GB of uploads a day before studio answers 429."""

    profiles_per_minute: int = 600
    bytes_per_day: int = 10 * 1024**3


@dataclass(frozen=True)
class TokenInfo:
    hash: str
    service: str | None  # None: reads every service, uploads nothing
    created: int  # epoch seconds
    last_used: int | None
    budget: Budget

    @property
    def id(self) -> str:
        """A name for the token that reveals nothing of it (the start of its hash)."""
        return self.hash[:ID_LENGTH]
