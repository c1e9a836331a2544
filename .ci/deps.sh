#!/bin/sh
# Install what ukscope needs on Debian bookworm (idempotent; quick when done).
#   1. Debian packages, with apt-get, only if some are missing.
#   2. The lwIP 2.1.3 and protobuf-c 1.4.1 source packages, unpacked into
#      $O/third_party/, fetched through a private apt configuration whose
#      deb-src entries are derived from this machine's own apt sources (no
#      mirror is named here).
# Usage: [V=1] deps.sh [BUILD_DIR]     (default build)
# Quiet: apt's output goes to BUILD_DIR/deps.log (shown on failure) unless V=1.
set -eu

O=${1:-build}
TP="$O/third_party"
mkdir -p "$O"

LOG="$(cd "$O" && pwd)/deps.log"
V=${V:-0}

# Only what the code and tests use now, by purpose:
#   build:   compilers, libFuzzer runtime, dpkg-dev (apt-get source), protoc
#   host:    jansson, protobuf-c, libdw/libelf (crash reports)
#   tests:   QEMU, cmocka, gdb + lldb (two debugger clients), elfutils + drgn
#            (core readers), babeltrace2 (CTF), Prometheus + its Python parser,
#            wrk (benchmarks)
#   collector: librelp (RELP client), rsyslog + rsyslog-relp (a real imrelp in tests)
#   host view: libbpf-dev + bpftool (BPF build, skeleton), capsh (no-capability
#            test), perf (bench section bpf); clang above compiles -target bpf
PACKAGES="librelp-dev rsyslog rsyslog-relp
  build-essential gcc make binutils clang libclang-rt-14-dev python3 dpkg-dev
  protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
  libjansson-dev libdw-dev libelf-dev
  libmicrohttpd-dev
  qemu-system-x86 libcmocka-dev gdb lldb elfutils python3-drgn
  babeltrace2 python3-bt2 prometheus python3-prometheus-client wrk
  libbpf-dev bpftool libcap2-bin linux-perf"

quiet() { # run "$@", its output to $LOG unless V=1; on failure show the log's tail
    if [ "$V" = 1 ]; then
        "$@"
        return
    fi
    if ! "$@" >>"$LOG" 2>&1; then
        echo "deps: Failed to run: $*; the end of $LOG:" >&2
        tail -n 20 "$LOG" >&2
        exit 1
    fi
}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# dashboards (docs/dashboards.md): nodejs (npm ci of dashboards/package-lock.json:
# uPlot, playwright-core), chromium (headless: the console's browser tests)
PACKAGES="$PACKAGES nodejs chromium"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing (log: $LOG)"
    quiet $SUDO apt-get update -qq
    quiet env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# ------------------------------------------------------- source packages ---
fetch_source() { # name version-glob
    name=$1
    want=$2
    if ls -d "$TP/$name-$want"* >/dev/null 2>&1; then
        return 0
    fi
    apt_private
    echo "deps: fetching the $name source package"
    (cd "$TP" && quiet apt-get $APTOPTS source "$name")
    ls -d "$TP/$name-$want"* >/dev/null 2>&1 || {
        echo "deps: Failed to fetch $name $want source (got: $(ls "$TP"))" >&2
        exit 1
    }
}

APTOPTS=""
apt_private() {
    [ -z "$APTOPTS" ] || return 0
    case "$O" in
    /*) A="$O/apt" ;; # an absolute build dir (make O=/path) stays where it is
    *) A="$(pwd)/$O/apt" ;;
    esac
    mkdir -p "$A/lists/partial" "$A/sources.list.d" "$TP"
    : >"$A/sources.list"
    # One-line format: deb URI SUITE COMPONENTS -> deb-src ...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$A/sources.list"
    done
    # deb822 format: Types: deb -> Types: deb-src, keeping each stanza.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; ORS = "\n\n" }
             /(^|\n)Types:[^\n]*deb([ \n]|$)/ && !/(^|\n)Enabled:[ ]*no/ {
                 gsub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' \
            "$f" >"$A/sources.list.d/$(basename "$f")"
    done
    APTOPTS="-o Dir::Etc::SourceList=$A/sources.list -o Dir::Etc::SourceParts=$A/sources.list.d
      -o Dir::State::Lists=$A/lists -o APT::Sandbox::User=root -qq"
    quiet apt-get $APTOPTS update
}

# ------------------------------------------------------------------- npm ---
# The console's npm packages, exactly as locked, into $O/npm/node_modules
# (never into the source tree); again only when the lockfile changed.
if [ -f dashboards/package-lock.json ]; then
    command -v npm >/dev/null 2>&1 || quiet env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
    if ! cmp -s dashboards/package-lock.json "$O/npm/package-lock.json" ||
        [ ! -d "$O/npm/node_modules" ]; then
        echo "deps: npm ci (dashboards/package-lock.json) into $O/npm"
        mkdir -p "$O/npm"
        cp dashboards/package.json dashboards/package-lock.json "$O/npm/"
        (cd "$O/npm" && quiet npm ci --no-audit --no-fund)
    fi
fi

mkdir -p "$TP"
fetch_source lwip 2.1.3
fetch_source protobuf-c 1.4.1

touch "$O/deps.stamp"
