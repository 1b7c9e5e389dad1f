"""What a test needs from the machine, and what happens when it is missing.

Real-peer tests need programs and files from Debian packages: sipp, baresip, espeak-ng, sox,
chromium, PostgreSQL, the stock prompts and hold music. When one is missing, a developer's run
skips the test and says which package to install; under ``CI=true`` the test **fails** with the
same message, because a CI run that skips its real-peer tests proves nothing.

Use it as a mark (checked just before the test's fixtures are set up, so a missing peer costs
no server start)::

    pytestmark = needs(SIPP, BARESIP)

    @needs(STOCK_PROMPTS)
    def test_prompt_heard(...): ...

or from inside a fixture or test with :func:`require`. The marks work once this module is a
pytest plugin (``pytest_plugins = ["parley.testing.needs"]`` in the top ``conftest.py``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from parley.config import STOCK_LANGUAGE_PROMPT_DIRS, STOCK_PROMPT_DIRS
from parley.telephony.moh import DEFAULT_MOH_DIR, DEFAULT_MOH_PACKAGE
from parley.telephony.prompts import STOCK_SOUNDS_PACKAGE, find_stock_sounds
from parley.testing.peers import BARESIP_APP_MODULES, BARESIP_MEDIA_MODULES, BARESIP_MODULES
from parley.web.vendor import default_node_modules

MARK = "needs"


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True under a CI run (``CI=true``, as GitHub, GitLab and most CI services set it)."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in ("true", "1", "yes")


@dataclass(frozen=True, slots=True)
class Need:
    """One thing a test needs: what it is, the Debian package that provides it, and how to
    tell whether it is here."""

    what: str
    package: str
    present: Callable[[], bool]
    #: how to get it, when not from a Debian package (empty: install ``package``)
    remedy: str = ""

    def message(self) -> str:
        remedy = self.remedy or f"install Debian's {self.package}"
        return f"{self.what} is missing ({remedy})"


def program(name: str, package: str, *files: Path, what: str = "") -> Need:
    """A program on ``PATH`` (and, if given, files of its package that the test uses)."""
    def present() -> bool:
        return shutil.which(name) is not None and all(path.exists() for path in files)
    return Need(what or name, package, present)


def _hold_music_present() -> bool:
    return DEFAULT_MOH_DIR.is_dir() and any(DEFAULT_MOH_DIR.glob("*.wav"))


def _postgres_present() -> bool:
    from parley.testing.postgres import ENV_URL, find_bin_dir

    return bool(os.environ.get(ENV_URL)) or find_bin_dir() is not None


SIPP = program("sipp", "sip-tester")
SIPP_CAPTURES_DIR = Path("/usr/share/sip-tester")
SIPP_CAPTURES = program("sipp", "sip-tester",
                        *(SIPP_CAPTURES_DIR / f"dtmf_2833_{key}.pcap" for key in ("1", "pound")),
                        what=f"sipp or its RTP captures ({SIPP_CAPTURES_DIR}/dtmf_2833_*.pcap)")
BARESIP = program("baresip", "baresip-core",
                  *(BARESIP_MODULES / f"{module}.so"
                    for module in (*BARESIP_MEDIA_MODULES, *BARESIP_APP_MODULES)),
                  what=f"baresip or its modules in {BARESIP_MODULES}")
ESPEAK = program("espeak-ng", "espeak-ng")
SOX = program("sox", "sox")
CHROMIUM = program("chromium", "chromium")
NODEJS = program("node", "nodejs")
SOCAT = program("socat", "socat")
TURNSERVER = program("turnserver", "coturn")
SLAPD = Need("OpenLDAP's slapd and slapadd (/usr/sbin)", "slapd",
             lambda: all(Path(f"/usr/sbin/{name}").is_file() for name in ("slapd", "slapadd")))
STOCK_PROMPTS = Need(f"the stock prompts ({', '.join(map(str, STOCK_PROMPT_DIRS))})",
                     STOCK_SOUNDS_PACKAGE, lambda: find_stock_sounds() is not None)
HOLD_MUSIC = Need(f"the stock hold music ({DEFAULT_MOH_DIR})", DEFAULT_MOH_PACKAGE,
                  _hold_music_present)
RU_STOCK_PROMPTS_DIR = STOCK_LANGUAGE_PROMPT_DIRS["ru"][-1]
"""The folder Debian's asterisk-core-sounds-ru-wav installs (the tests read its files)."""
RU_STOCK_PROMPTS = Need(f"the Russian stock prompts ({RU_STOCK_PROMPTS_DIR})",
                        "asterisk-core-sounds-ru-wav", RU_STOCK_PROMPTS_DIR.is_dir)


def node_package(name: str, file: str = "package.json") -> Need:
    """A file of an npm package of the checkout's ``package.json`` (``npm ci`` installs it)."""
    path = default_node_modules() / name / file
    return Need(f"{name} ({path})", "npm", path.is_file,
                remedy="run `npm ci` at the repository root")


POSTGRESQL = Need("PostgreSQL's server programs (or PARLEY_TEST_DATABASE_URL)", "postgresql",
                  _postgres_present)


def _nftables_usable() -> bool:
    import ctypes.util

    return os.geteuid() == 0 and ctypes.util.find_library("nftables") is not None


NFTABLES = Need("libnftables and root (CAP_NET_ADMIN) for media.kernel_forwarding", "nftables",
                _nftables_usable)


def _compiled_sip_built() -> bool:
    from parley.sip import compiled

    return compiled.BUILT


COMPILED_SIP_PARSER = Need("the SIP parser's compiled parts (parley.sip._headscan)", "gcc",
                            _compiled_sip_built,
                            remedy="install gcc and the Python headers, then run "
                            "`pip install -e .` again (scripts/test does both)")


def missing(*needs: Need) -> list[Need]:
    """The needs that this machine does not meet."""
    return [need for need in needs if not need.present()]


def require(*needs: Need) -> None:
    """Return if every need is met; otherwise skip the running test, or fail it under CI."""
    absent = missing(*needs)
    if not absent:
        return
    message = "; ".join(need.message() for need in absent)
    if in_ci():
        pytest.fail(f"{message}; under CI=true a missing peer fails the test", pytrace=False)
    pytest.skip(message)


def needs(*needs: Need) -> pytest.MarkDecorator:
    """A mark saying what the test needs; :func:`require` runs on it before the fixtures."""
    return pytest.mark.needs(*needs)


def stock_sounds() -> Path:
    """The folder of the installed stock prompts (the test is skipped, or failed under CI,
    when they are not installed)."""
    require(STOCK_PROMPTS)
    found = find_stock_sounds()
    assert found is not None  # noqa: S101 - require() returned, so they are there
    return found


# --- the pytest plugin ------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARK}(*needs): real peers or files the test needs (parley.testing.needs);"
        " missing ones skip the test, or fail it under CI=true")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers(MARK):
        require(*mark.args)
