"""Tokens go on command lines (`gprofiler --token T`): none may look like an option."""

from gprofiler.agent_cli import build_parser
from gprofiler_studio.tokens import new_token, token_hash


def test_tokens_never_start_with_a_dash_and_parse_after_token() -> None:
    tokens = {new_token() for _ in range(5000)}  # ~1 in 64 base64 tokens starts with "-" otherwise
    assert len(tokens) == 5000
    assert not any(token.startswith("-") for token in tokens)
    token = sorted(tokens)[0]
    assert build_parser().parse_args(["--token", token]).token == token
    assert len(token_hash(token)) == 64
