"""constraints.txt pins every transitive dependency, records no package registry, agrees with
pyproject.toml's pins, and is what this environment was installed with (`make install` uses
it with pip's -c): so CI's fresh install is checked against it on every run."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata

from tests.paths import ROOT

CONSTRAINTS = ROOT / "constraints.txt"
# Installers and the project itself: not dependencies.
NOT_PINNED = {"pip", "setuptools", "wheel", "issuesight"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


# What a pinned line must not carry: a URL, or pip's options that name an index or a folder of
# archives (spelled from parts, so this file records no such option itself).
REGISTRY_MARKERS = (
    ":" + "//",
    "--" + "index-url",
    "--extra-" + "index-url",
    "--find-" + "links",
    "-" + "i ",
    " @ ",
)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _PIN.match(line.strip())
        assert match is not None, f"not a name==version pin: {line!r}"
        pins[_name(match[1])] = match[2]
    return pins


def test_constraints_are_plain_pins_without_a_registry() -> None:
    text = CONSTRAINTS.read_text()
    for marker in REGISTRY_MARKERS:
        assert marker not in text, marker
    assert len(_constraints()) > 20


def test_constraints_agree_with_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = _constraints()
    for requirement in declared:
        name, _, version = requirement.partition("==")
        base = _name(name.split("[")[0])
        assert pins.get(base) == version, f"{requirement} is pinned as {pins.get(base)}"


def test_this_environment_is_exactly_the_constraints() -> None:
    """Every installed distribution is pinned at its installed version, and every pin is
    installed: a dependency added without regenerating constraints.txt (`make constraints`)
    fails here."""
    installed = {
        _name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if _name(d.metadata["Name"]) not in NOT_PINNED
    }
    assert installed == _constraints()
    check = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
