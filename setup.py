"""The one compiled part: the SIP parser's common cases (src/parley/sip/_headscan.c).

Everything else is declared in pyproject.toml. The extension is optional: without a C
compiler and the Python headers (scripts/_setup.sh installs both) the install goes on and
the same parse runs in Python.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("parley.sip._headscan", ["src/parley/sip/_headscan.c"],
                             optional=True)])
