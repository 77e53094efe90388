import pytest

from gprofiler.discovery.appids import application_id
from gprofiler.discovery.runtimes import GO, NODEJS, PYTHON


@pytest.mark.parametrize(
    ("args", "cwd", "appid"),
    [
        (
            ["/usr/bin/python3", "/srv/venv/bin/gunicorn", "-w", "2", "-b", ":8000", "web.app:application"],
            "/srv",
            "gunicorn: web.app:application (/srv/web/app.py)",
        ),
        (
            ["gunicorn: worker [shop.wsgi:app]"],
            "/srv/shop",
            "gunicorn: shop.wsgi:app (/srv/shop/shop/wsgi.py)",
        ),
        (["/usr/bin/python3", "-m", "gunicorn", "app:app"], "/a", "gunicorn: app:app (/a/app.py)"),
        (
            ["/usr/bin/python3", "/v/bin/uvicorn", "main:app", "--port", "8000"],
            "/x",
            "uvicorn: main:app (/x/main.py)",
        ),
        (
            ["/usr/bin/python3", "-m", "uvicorn", "--reload", "api.main:app"],
            "/x",
            "uvicorn: api.main:app (/x/api/main.py)",
        ),
        (["uwsgi", "--module", "proj.wsgi", "--http", ":80"], "/p", "uwsgi: proj.wsgi (/p/proj/wsgi.py)"),
        (["uwsgi", "--ini", "uwsgi.ini"], "/p", "uwsgi: uwsgi.ini"),
        (["/usr/bin/python3", "/v/bin/celery", "-A", "tasks", "worker"], "/w", "celery: tasks (/w/tasks.py)"),
        (
            ["/usr/bin/python3", "-m", "celery", "--app=proj.celery", "worker"],
            "/w",
            "celery: proj.celery (/w/proj/celery.py)",
        ),
        (["/usr/bin/python3", "-m", "http.server", "8080"], "/", "python: -m http.server"),
        (["python3", "tools/job.py", "--once"], "/opt/app", "python: tools/job.py (/opt/app/tools/job.py)"),
        (["/usr/bin/python3", "/abs/run.py"], "/elsewhere", "python: /abs/run.py (/abs/run.py)"),
        (["/usr/bin/python3", "-c", "print(1)"], "/", None),
    ],
)
def test_python_application_ids(args: list[str], cwd: str, appid: str | None) -> None:
    assert application_id(PYTHON, "/usr/bin/python3.11", args, cwd) == appid


def test_uwsgi_is_recognised_by_its_executable() -> None:
    assert (
        application_id(PYTHON, "/usr/local/bin/uwsgi", ["uwsgi", "-w", "app"], "/s")
        == "uwsgi: app (/s/app.py)"
    )


@pytest.mark.parametrize(
    ("args", "appid"),
    [
        (["node", "server.js"], "node: server.js (/srv/server.js)"),
        (
            ["/usr/bin/node", "--perf-basic-prof", "-r", "dotenv/config", "dist/main.js"],
            "node: dist/main.js (/srv/dist/main.js)",
        ),
        (["node"], None),
    ],
)
def test_node_application_ids(args: list[str], appid: str | None) -> None:
    assert application_id(NODEJS, "/usr/bin/node", args, "/srv") == appid


def test_other_runtimes_have_none() -> None:
    assert application_id(GO, "/srv/app", ["/srv/app", "serve"], "/") is None
    assert application_id(None, "/usr/bin/bash", ["bash", "python-backup.sh"], "/") is None
