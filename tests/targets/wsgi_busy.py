"""A WSGI app for gunicorn whose workers burn CPU in gp_wsgi_spin(), so they show up in profiles."""

import threading


def gp_wsgi_spin() -> None:
    while True:
        sum(i * i for i in range(100_000))


threading.Thread(target=gp_wsgi_spin, daemon=True).start()


def application(environ: dict[str, object], start_response: object) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
    return [b"ok\n"]
