#!/usr/bin/env bash
# Build build/x86_64/gprofiler: the agent, its Python dependencies, its resources, perf, py-spy and rbspy
# in one file that runs on a Linux machine where nothing else is installed.
#
#   1. a clean virtual environment from Debian's /usr/bin/python3 (StaticX refuses interpreters
#      that carry a RUNPATH, such as pyenv's), with the pinned build tools and the package;
#   2. PyInstaller --onefile: Python, the package, its resources, and the tools as package data
#      under gprofiler/resources/bin;
#   3. StaticX: glibc, the loader and every shared library needed by the PyInstaller bootloader
#      *and* by each bundled tool (from ldd), so that gprofiler.bundle can start perf through the
#      bundled loader.
#
# Needs: the assets from `./dev.sh setup` (flame graph bundles, linux-perf addon) and Debian's
# linux-perf. Run through `./dev.sh exe`, which installs those first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ARCH="$(uname -m)"
BUILD="$ROOT/build"
VENV="$BUILD/exe-venv"
STAGE="$BUILD/exe-stage"
OUTPUT="$BUILD/$ARCH/gprofiler"
BASE_PYTHON="${GPROFILER_BASE_PYTHON:-/usr/bin/python3}"
PERF="${GPROFILER_BUNDLE_PERF:-/usr/bin/perf}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'build_executable: %s\n' "$*" >&2; exit 1; }

[ -x "$BASE_PYTHON" ] || die "$BASE_PYTHON not found (Debian's python3 is needed: StaticX rejects RUNPATH interpreters)"
[ -x "$PERF" ] || die "$PERF not found: install Debian's linux-perf"
# Debian's /usr/bin/perf has been a wrapper script picking perf_<kernel> in some releases.
head -c 4 "$PERF" | grep -q 'ELF' || die "$PERF is not an ELF binary; point GPROFILER_BUNDLE_PERF at the real one"
[ -f src/gprofiler/resources/flamegraph/vendor/d3.min.js ] || die "flame graph assets missing: run ./dev.sh setup"

requirements="scripts/exe/requirements.txt"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$requirements" "$VENV/requirements.txt"; then
    log "creating the build environment $VENV"
    rm -rf "$VENV"
    "$BASE_PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$requirements"
    cp "$requirements" "$VENV/requirements.txt"
fi
log "installing gprofiler into the build environment"
"$VENV/bin/pip" install -q --force-reinstall --no-deps .
"$VENV/bin/pip" install -q .

log "staging the bundled tools"
rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/pyinstaller" "$(dirname "$OUTPUT")"
install -m 0755 "$PERF" "$STAGE/bin/perf"
install -m 0755 "$VENV/bin/py-spy" "$STAGE/bin/py-spy"
rbspy="src/gprofiler/resources/bin/rbspy"
[ -x "$rbspy" ] || die "rbspy missing: run ./dev.sh setup"
install -m 0755 "$rbspy" "$STAGE/bin/rbspy"

log "PyInstaller: one-file program"
add_data=()
for tool in "$STAGE"/bin/*; do
    add_data+=(--add-data "$tool:gprofiler/resources/bin")
done
# --collect-data leaves shared objects out: async-profiler's library is named explicitly (a JVM
# loads it; the executable never does).
java_resources="$PWD/src/gprofiler/resources/java"
[ -f "$java_resources/libasyncProfiler.so" ] || die "async-profiler missing: run ./dev.sh setup"
add_data+=(--add-data "$java_resources/libasyncProfiler.so:gprofiler/resources/java")
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN --onefile --name gprofiler-dynamic \
    --collect-data gprofiler "${add_data[@]}" \
    --distpath "$STAGE/pyinstaller/dist" --workpath "$STAGE/pyinstaller/work" \
    --specpath "$STAGE/pyinstaller" scripts/exe/entry.py

log "StaticX: every shared library of the bootloader and of each bundled tool"
libraries=()
# each library once, whichever tools need it (perf and rbspy both need libc); ldd on a static
# binary (py-spy) prints "not a dynamic executable" and fails: nothing to add.
while read -r library; do
    libraries+=(-l "$library")
done < <(for tool in "$STAGE"/bin/*; do ldd "$tool" 2>/dev/null || true; done \
    | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
# Uncompressed: 43 MB instead of 23 MB, but the agent starts sampling 1.2 s sooner (StaticX's xz
# decompression on every start); the .deb and image layers are compressed in transit anyway.
# GPROFILER_STATICX_COMPRESS=1 trades the other way.
compress=(--no-compress)
[ "${GPROFILER_STATICX_COMPRESS:-0}" = 1 ] && compress=()
PATH="$VENV/bin:$PATH" "$VENV/bin/staticx" "${compress[@]}" "${libraries[@]}" \
    "$STAGE/pyinstaller/dist/gprofiler-dynamic" "$OUTPUT.tmp"
chmod 0755 "$OUTPUT.tmp"
mv -f "$OUTPUT.tmp" "$OUTPUT"

version="$("$OUTPUT" --version)"
log "built $OUTPUT: gprofiler $version, $(du -m "$OUTPUT" | cut -f1) MB, $((${#libraries[@]} / 2)) tool libraries"
