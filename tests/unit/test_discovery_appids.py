import pytest

from gprofiler.discovery.appids import application_id
from gprofiler.discovery.runtimes import GO, NODEJS, PHP, PYTHON, RUBY


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


@pytest.mark.parametrize(
    ("args", "appid"),
    [
        # renamed servers: one argument holding the title the server set ($0 = ...)
        (["puma 6.4.2 (tcp://0.0.0.0:9292) [shop]"], "puma: shop (tcp://0.0.0.0:9292)"),
        (["puma 6.4.2 (unix:///run/app.sock)"], "puma: /srv (unix:///run/app.sock)"),
        (["puma: cluster worker 1: 4321 [shop]", "", ""], "puma: shop"),
        (["puma: cluster worker 0: 4321"], "puma: /srv"),
        (["sidekiq 7.2.4 billing [3 of 10 busy]"], "sidekiq: billing"),
        (["sidekiq 7.2.4  [0 of 5 busy]"], "sidekiq: /srv"),
        (["unicorn master -c config/unicorn.rb -E production -D"], "unicorn: /srv/config/unicorn.rb"),
        (["unicorn_rails worker[2] -c /etc/u.rb"], "unicorn_rails: /etc/u.rb"),
        (["unicorn worker[0]"], "unicorn: /srv"),
        # before they rename themselves, or servers that do not
        (["/usr/bin/ruby3.1", "/srv/bin/rails", "server", "-p", "3000"], "rails: /srv"),
        (["/usr/bin/ruby", "/usr/local/bin/rackup", "api/config.ru"], "rackup: /srv/api/config.ru"),
        (["/usr/bin/ruby", "/usr/local/bin/puma", "-C", "config/puma.rb"], "puma: /srv"),
        (["ruby", "jobs/nightly.rb", "--all"], "ruby: jobs/nightly.rb (/srv/jobs/nightly.rb)"),
        (["ruby", "-W0", "/opt/x.rb"], "ruby: /opt/x.rb (/opt/x.rb)"),
        (["irb"], None),
        (["ruby", "-e", "puts 1"], None),
        (["ruby", "-I", "lib", "bin/worker.rb"], "ruby: bin/worker.rb (/srv/bin/worker.rb)"),
    ],
)
def test_ruby_application_ids(args: list[str], appid: str | None) -> None:
    assert application_id(RUBY, "/usr/bin/ruby3.1", args, "/srv") == appid


@pytest.mark.parametrize(
    ("args", "appid"),
    [
        (["php-fpm: pool www" + " " * 20], "php-fpm: pool www"),
        (["php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"], "php-fpm: master"),
        (["php", "artisan", "queue:work"], "php: artisan (/srv/artisan)"),
        (["/usr/bin/php8.2", "-d", "memory_limit=1G", "bin/console"], "php: bin/console (/srv/bin/console)"),
        (["php", "-f", "cron.php", "--", "-x"], "php: cron.php (/srv/cron.php)"),
        (["php", "-r", "echo 1;"], None),
        (["php", "-a"], None),
    ],
)
def test_php_application_ids(args: list[str], appid: str | None) -> None:
    assert application_id(PHP, "/usr/sbin/php-fpm8.2", args, "/srv") == appid
