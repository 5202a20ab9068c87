#!/usr/bin/env bash
# The one entry point: installs missing prerequisites, builds out/runsc and the guest
# fixtures, and runs the tests, the benchmarks or a demo.
#   ./build.sh          build everything into out/
#   ./build.sh demo     build, then run a real program (busybox) inside the sandbox
#   ./build.sh test     build, then run every test project
#   ./build.sh bench    build, then compare native, Debian's runsc (gVisor) and ours
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
OUT=$ROOT/out
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# Installs Debian packages whose command or file is missing.
need_pkgs() {
    local missing=()
    while [ $# -gt 0 ]; do
        local probe=$1 pkg=$2; shift 2
        if [[ $probe == /* ]]; then [ -e "$probe" ] || missing+=("$pkg")
        else command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg"); fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || true
        apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

prereqs() {
    command -v dotnet >/dev/null || { echo "dotnet SDK not found on PATH" >&2; exit 1; }
    need_pkgs gcc gcc /usr/include/stdio.h libc6-dev /usr/lib/x86_64-linux-gnu/libc.a libc6-dev \
              /bin/busybox busybox-static script bsdutils \
              /usr/bin/python3 python3 /usr/bin/sqlite3 sqlite3 /usr/bin/git git /usr/bin/perl perl
}

bench_prereqs() {
    need_pkgs runsc runsc hyperfine hyperfine
}

build_guest() {
    log "compiling guest fixtures (gcc -static)"
    mkdir -p "$OUT/guest"
    local c
    for c in test/guest/*.c; do
        [ -e "$c" ] || continue
        local bin=$OUT/guest/$(basename "$c" .c)
        # A fixture is stale when it or the header the fixtures share is newer than it.
        if [ ! -e "$bin" ] || [ "$c" -nt "$bin" ] || [ test/guest/check.h -nt "$bin" ]; then
            # A first line "// build: FLAGS" adds linker or compiler flags (e.g. -z execstack).
            local extra=()
            local first
            IFS= read -r first < "$c" || true
            if [[ $first == "// build: "* ]]; then read -r -a extra <<< "${first#// build: }"; fi
            gcc -static -O2 -pthread "${extra[@]}" -o "$bin" "$c"
        fi
    done
    # A static-PIE variant of hello exercises the ET_DYN loader path.
    if [ -e test/guest/hello.c ]; then
        gcc -static-pie -fPIE -O2 -o "$OUT/guest/hello-pie" test/guest/hello.c
    fi
}

build_runsc() {
    log "publishing out/runsc (ReadyToRun, framework-dependent)"
    dotnet publish Runsc/Runsc.csproj -c Release -r linux-x64 --self-contained false \
        -p:PublishReadyToRun=true -o "$OUT/runsc.d" -v quiet -nologo
    ln -sf runsc.d/runsc "$OUT/runsc"
}

build_all() {
    prereqs
    build_guest
    build_runsc
}

cmd=${1:-build}
case $cmd in
    build) build_all ;;
    test)
        build_all
        log "running tests"
        # The log is kept so a failure is summarised last, where a truncated CI
        # tail still shows it.
        status=0
        dotnet test Sandbox.slnx -c Release -v quiet -nologo --logger "console;verbosity=normal" \
            2>&1 | tee "$OUT/test.log" || status=$?
        if [ "$status" -ne 0 ]; then
            log "tests FAILED (exit $status); the failures, from $OUT/test.log:"
            grep -E -A25 '^\s*Failed [A-Za-z]|Test host process crashed|aborted|error CS[0-9]+' "$OUT/test.log" | head -300 || true
            exit "$status"
        fi
        ;;
    demo)
        build_all
        log "demo: busybox (static) inside the sandbox"
        set -x
        "$OUT/runsc" do /bin/busybox echo "hello from the sandbox"
        "$OUT/runsc" do /bin/busybox uname -a
        "$OUT/runsc" do "$OUT/guest/hello"
        "$OUT/runsc" do --strace "$OUT/guest/hello"
        # Debian's own dynamic programs, a shell pipeline, and a write that stays in the sandbox.
        "$OUT/runsc" do /bin/bash -c 'ls -la / | head -4; echo sandboxed > /etc/demo; cat /etc/demo; python3 -c "import sys; print(sys.version.split()[0])"'
        test ! -e /etc/demo && echo "the host's /etc is untouched"
        ;;
    bench)
        build_all
        bench_prereqs
        log "benchmarks"
        dotnet run --project bench/Bench.csproj -c Release -- "$ROOT"
        ;;
    *) echo "usage: $0 [build|test|demo|bench]" >&2; exit 2 ;;
esac
