# Shared set-up for scripts/demo and scripts/test: sourced, not run.
# Creates .venv, installs Parley into it, and installs missing Debian packages.
set -euo pipefail

PARLEY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PARLEY_VENV:-$PARLEY_ROOT/.venv}"

# Packages are installed without their "Recommends", so each list names everything the code
# uses, never something a recommended package happens to bring:
# - asterisk-core-sounds-en-wav puts the prompts in /usr/share/asterisk/sounds/en_US_f_Allison
#   (the "en" link comes only with the recommended asterisk-core-sounds-en; Parley looks in
#   both); asterisk-core-sounds-ru-wav puts the Russian prompts in
#   /usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU; asterisk-moh-opsound-wav puts the hold music in /usr/share/asterisk/moh;
# - espeak-ng brings its voices (espeak-ng-data) through libespeak-ng1's dependencies;
# - sox reads and writes WAV and raw mu-law with its built-in formats (no libsox-fmt-all), and
#   FLAC (recordings are compressed to it) through libsox-fmt-base, which sox depends on;
# - nodejs and npm install the pages' JavaScript libraries.
# - nftables: libnftables, through which media.kernel_forwarding drives the kernel.
RUNTIME_DEBS=(espeak-ng sox asterisk-core-sounds-en-wav asterisk-core-sounds-ru-wav asterisk-moh-opsound-wav nodejs npm nftables)
# Extra packages for the test suite:
# - sip-tester: sipp and its RTP captures (/usr/share/sip-tester/dtmf_2833_*.pcap);
# - baresip-core: baresip and every module the test phones load (g711, aufile, aubridge,
#   sndfile, account, menu, ctrl_tcp); the "baresip" package adds only GUI recommends;
# - postgresql: the server programs in /usr/lib/postgresql/<version>/bin (not on PATH), run
#   by the tests as a throw-away server;
# - chromium for the browser tests, and fonts-dejavu-core so that pages (English and
#   Russian) render the same glyphs on every machine instead of whatever font is there.
# - socat puts a TLS listener in front of a sipp carrier (Debian builds sipp without TLS);
# - slapd and ldap-utils: a throw-away OpenLDAP directory for the directory sign-in tests;
# - coturn: a throw-away TURN server that the remote operator's browser phone relays through;
# - iproute2: `ip` builds the network namespaces and bridge of the floating-address tests
#   (Parley itself holds the address over rtnetlink and needs no package for it).
TEST_DEBS=(sip-tester baresip-core postgresql chromium fonts-dejavu-core socat slapd ldap-utils
           coturn iproute2)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        log "not root and no sudo: run as root, or install sudo"; return 1
    fi
}

deb_present() {
    # $1 is installed, or an installed package provides it (NodeSource's nodejs provides
    # npm and conflicts with Debian's npm package, so npm must not be installed over it).
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep "install ok installed" >/dev/null \
        && return 0
    dpkg-query -W -f='${Status}|${Provides}\n' 2>/dev/null \
        | grep "^install ok installed|" | cut -d'|' -f2 | tr ',' '\n' \
        | sed -e 's/(.*)//' -e 's/[[:space:]]//g' | grep -x "$1" >/dev/null
}

ensure_debs() {
    local missing=()
    for pkg in "$@"; do
        deb_present "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if ! command -v apt-get >/dev/null; then
            log "missing system packages: ${missing[*]} (no apt-get here: install them yourself)"
            return 1
        fi
        log "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

pick_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    log "Python 3.11 or newer is required"; return 1
}

ensure_venv() {
    # $1: the extras to install ("" or "dev")
    local extras="${1:-}" spec="$PARLEY_ROOT" stamp
    [ -n "$extras" ] && spec="$PARLEY_ROOT[$extras]"
    if [ ! -x "$VENV/bin/python" ]; then
        local py; py="$(pick_python)"
        if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
            # Debian splits venv's pip bootstrap off each Python into python3.X-venv.
            ensure_debs "$("$py" -c 'import sys; print("python3.%d-venv" % sys.version_info[1])')"
        fi
        log "creating virtual environment in $VENV"
        "$py" -m venv "$VENV"
    fi
    stamp="$VENV/.parley-installed-$extras"
    if [ ! -f "$stamp" ] || [ "$PARLEY_ROOT/pyproject.toml" -nt "$stamp" ] \
            || [ "$PARLEY_ROOT/setup.py" -nt "$stamp" ] \
            || [ "$PARLEY_ROOT/src/parley/sip/_headscan.c" -nt "$stamp" ]; then
        ensure_compiler
        log "installing Python packages ($spec)"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e "$spec"
        touch "$stamp"
    fi
}

ensure_compiler() {
    # The SIP parser's compiled parts (src/parley/sip/_headscan.c) are built at install: gcc,
    # the C library's headers and the venv's Python headers (Debian's python3.X-dev for its
    # own Pythons; a Python built from source has them). Without them the install still
    # works and the same parse runs in Python, about 8 us slower per INVITE.
    ensure_debs gcc libc6-dev
    if ! "$VENV/bin/python" -c 'import os, sys, sysconfig
sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
        ensure_debs "$("$VENV/bin/python" -c 'import sys; print("python3.%d-dev" % sys.version_info[1])')"
    fi
}

ensure_node_modules() {
    # The pages' third-party JS and CSS, exactly as package-lock.json pins them, into
    # $PARLEY_ROOT/node_modules (served by the node itself: no CDN). Install scripts are not
    # run: the packages we serve are plain files.
    local marker="$PARLEY_ROOT/node_modules/.package-lock.json"
    if [ ! -f "$marker" ] || [ "$PARLEY_ROOT/package-lock.json" -nt "$marker" ]; then
        log "installing JavaScript packages (npm ci)"
        (cd "$PARLEY_ROOT" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    fi
}
