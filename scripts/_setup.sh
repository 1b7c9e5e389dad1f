# Shared set-up for scripts/demo and scripts/test: sourced, not run.
# Creates .venv, installs Parley into it, and installs missing Debian packages.
set -euo pipefail

PARLEY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PARLEY_VENV:-$PARLEY_ROOT/.venv}"

# Debian packages Parley itself uses at run time (prompts, hold music, text-to-speech, sox).
RUNTIME_DEBS=(espeak-ng sox asterisk-core-sounds-en-wav asterisk-moh-opsound-wav)
# Extra packages for the test suite: real SIP peers, PostgreSQL, Chromium.
TEST_DEBS=(sip-tester baresip postgresql chromium)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_debs() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
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
            ensure_debs python3-venv
        fi
        log "creating virtual environment in $VENV"
        "$py" -m venv "$VENV"
    fi
    stamp="$VENV/.parley-installed-$extras"
    if [ ! -f "$stamp" ] || [ "$PARLEY_ROOT/pyproject.toml" -nt "$stamp" ]; then
        log "installing Python packages ($spec)"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e "$spec"
        touch "$stamp"
    fi
}
