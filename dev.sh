#!/usr/bin/env bash
# Developer entry point. Every command installs what it needs first (idempotent), so on a fresh
# Debian 12 machine `./dev.sh profile` and `./dev.sh test` are all it takes (as root, or as a user
# who may sudo: the commands that need root run themselves again through sudo).
#
#   ./dev.sh setup        system packages (perf, venv, node, g++), .venv, the package, npm assets
#   ./dev.sh profile      setup, then profile this machine for 30 s and print the flame graph's path
#   ./dev.sh setup-test   setup plus what the tests need (gcc, chromium, golang, JDK, dev tools)
#   ./dev.sh test         setup-test, then ruff, mypy and the whole pytest suite
#   ./dev.sh exe          setup, then build/<arch>/gprofiler, the single-file executable
#   ./dev.sh deb          exe, then build/gprofiler_<version>_amd64.deb
#   ./dev.sh image        exe, then the container image gprofiler:<version> (podman, or docker)
#   ./dev.sh lint         ruff + mypy only
#   ./dev.sh bench        the benchmarks in benchmarks/ (figures, not pass/fail)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ARGUMENTS=("$@")
cd "$ROOT"
VENV="$ROOT/.venv"
STAMPS="$ROOT/.setup-stamps"
# Debian's interpreter, not a pyenv/conda one: the static-executable build (StaticX) needs it.
BASE_PYTHON="${GPROFILER_BASE_PYTHON:-/usr/bin/python3}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    # Install only the Debian packages that are missing; `apt-get update` only when needed.
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

stamp_current() {  # stamp_current NAME FILE... -> true if FILEs are unchanged since the stamp
    local name="$1"; shift
    local sum; sum="$(cat "$@" | sha256sum | cut -d' ' -f1)"
    [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$sum" ]
}

stamp_write() {
    local name="$1"; shift
    mkdir -p "$STAMPS"
    cat "$@" | sha256sum | cut -d' ' -f1 > "$STAMPS/$name"
}

setup() {
    apt_install linux-perf python3-venv python3-pip ca-certificates
    # Node.js may come from Debian or from NodeSource (whose nodejs package bundles npm and headers).
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    # npm ci compiles the linux-perf addon (attach-maps) against the local Node.js headers.
    apt_install g++ make python3
    [ -f /usr/include/node/node.h ] || apt_install libnode-dev
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV from $BASE_PYTHON"
        "$BASE_PYTHON" -m venv "$VENV"
    fi
    if ! stamp_current python pyproject.toml || ! "$VENV/bin/python" -c "import gprofiler" 2>/dev/null; then
        log "installing gprofiler (editable) with dev tools"
        "$VENV/bin/pip" install -q --upgrade pip
        "$VENV/bin/pip" install -q -e ".[dev]"
        stamp_write python pyproject.toml
    fi
    if ! stamp_current assets package-lock.json scripts/build_assets.py \
        || [ ! -f src/gprofiler/resources/flamegraph/vendor/d3.min.js ] \
        || [ ! -f src/gprofiler_studio/ui/vendor/uPlot.min.js ] \
        || [ ! -f src/gprofiler_studio/ui/vendor/swagger-ui-bundle.js ] \
        || [ ! -d src/gprofiler/resources/nodejs ]; then
        log "installing pinned front-end libraries (npm ci) and copying them into the package"
        npm_config_nodedir=/usr npm ci --no-audit --no-fund --loglevel=error
        "$VENV/bin/python" scripts/build_assets.py
        stamp_write assets package-lock.json scripts/build_assets.py
    fi
    # async-profiler (Java's default engine) from Maven Central, pinned and checksummed
    if ! stamp_current async-profiler scripts/async-profiler.lock scripts/fetch_async_profiler.py \
        || [ ! -f src/gprofiler/resources/java/libasyncProfiler.so ]; then
        command -v mvn >/dev/null 2>&1 || apt_install maven
        log "fetching the pinned async-profiler from Maven Central"
        "$VENV/bin/python" scripts/fetch_async_profiler.py
        stamp_write async-profiler scripts/async-profiler.lock scripts/fetch_async_profiler.py
    fi
    # pprof's profile.proto from Debian (google/pprof's sources), checksummed, generated into a module
    if ! stamp_current pprof scripts/pprof.lock scripts/build_pprof_proto.py pyproject.toml \
        || [ ! -f src/gprofiler/output/profile_pb2.py ]; then
        apt_install golang-github-google-pprof-dev
        "$VENV/bin/python" scripts/build_pprof_proto.py
        stamp_write pprof scripts/pprof.lock scripts/build_pprof_proto.py pyproject.toml
    fi
    # rbspy (Ruby) from crates.io, pinned; built once per machine (a few minutes), then cached
    # outside the checkout by the lock's contents
    if ! stamp_current rbspy scripts/rbspy.lock scripts/build_rbspy.py scripts/build_cache.py \
        || [ ! -x src/gprofiler/resources/bin/rbspy ]; then
        command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || apt_install cargo
        "$VENV/bin/python" scripts/build_rbspy.py
        stamp_write rbspy scripts/rbspy.lock scripts/build_rbspy.py scripts/build_cache.py
    fi
}

setup_test() {
    setup
    apt_install gcc libc6-dev chromium golang-go openjdk-17-jdk-headless
    # the Ruby and PHP profilers are tested against Debian's interpreters (PHP's headers prove the
    # sampler's table of the engine's structures)
    apt_install ruby php-cli php-fpm php-dev
    # packaging tests: the image (podman), the .deb (lintian) and its unit (systemd-analyze)
    apt_install podman lintian systemd
    # the studio's ClickHouse store is tested against Debian's server, its replicated tables with
    # Debian's ZooKeeper (run on the JDK above)
    apt_install clickhouse-server zookeeper
    # helm (the charts' tests) from the Go module proxy, pinned; built once per machine, then cached
    if ! stamp_current helm scripts/helm.lock scripts/build_helm.py scripts/build_cache.py || [ ! -x build/tools/helm ]; then
        "$VENV/bin/python" scripts/build_helm.py
        stamp_write helm scripts/helm.lock scripts/build_helm.py scripts/build_cache.py
    fi
}

build_exe() {
    # Rebuilt only when something that goes into it changed (the build takes about a minute).
    setup
    local inputs
    mapfile -t inputs < <(find src/gprofiler scripts/build_executable.sh scripts/exe pyproject.toml \
        -type f ! -path '*/__pycache__/*' | sort)
    if [ -x "build/$(uname -m)/gprofiler" ] && stamp_current exe "${inputs[@]}" /usr/bin/perf; then
        return
    fi
    log "building the single-file executable"
    ./scripts/build_executable.sh
    stamp_write exe "${inputs[@]}" /usr/bin/perf
}

build_image() {
    build_exe
    local engine="${CONTAINER_ENGINE:-}"
    if [ -z "$engine" ]; then
        command -v podman >/dev/null 2>&1 || command -v docker >/dev/null 2>&1 || apt_install podman
        engine="$(command -v podman || command -v docker)"
    fi
    local version; version="$("build/$(uname -m)/gprofiler" --version)"
    scripts/stage_image_root.sh build/image-root "build/$(uname -m)/gprofiler"
    log "building the image gprofiler:$version with $engine"
    "$engine" build --quiet --build-arg EXECUTABLE_FROM=prebuilt --build-arg "GPROFILER_VERSION=$version" \
        -t "gprofiler:$version" -t gprofiler:latest .
}

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            exec sudo "$ROOT/dev.sh" "${ARGUMENTS[@]}"
        fi
        echo "this needs root (perf samples every process): run it as root" >&2
        exit 1
    fi
}

case "${1:-}" in
    setup) setup ;;
    setup-test) setup_test ;;
    profile)
        require_root
        setup
        out="${GPROFILER_QUICKSTART_DIR:-$ROOT/profiles}"
        log "profiling this machine for 30 seconds into $out"
        "$VENV/bin/gprofiler" --output-dir "$out" --profiling-duration 30 \
            --log-file "$out/gprofiler.log" --pid-file "$out/gprofiler.pid"
        echo "flame graph: $(readlink -f "$out/last_flamegraph.html")"
        ;;
    exe) build_exe ;;
    deb)
        build_exe
        scripts/build_deb.sh
        ;;
    image) build_image ;;
    lint)
        setup
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        "$VENV/bin/mypy"
        ;;
    test)
        require_root
        setup_test
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        "$VENV/bin/mypy"
        build_exe
        "$VENV/bin/pytest" -q "${@:2}"
        ;;
    bench)
        require_root
        setup_test
        for script in benchmarks/bench_*.py; do
            log "$script"
            "$VENV/bin/python" "$script"
        done
        ;;
    *)
        sed -n '2,14p' "$0" >&2
        exit 2
        ;;
esac
