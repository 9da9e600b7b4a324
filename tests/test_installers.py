"""The installer files agree with the app and with each other (they build elsewhere too).

The Linux archive is built and run by test_frozen.py; the Windows and macOS
installers are built by the release workflow on those systems. What can be
checked here is that the pieces fit: the setup's AppMutex is the app's lock
name, the version lives only in kimt/__init__.py, the workflow uploads the
file names the scripts make, and the scripts parse.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT

from kimt import __version__
from kimt.system import LOCK_NAME

ISS = ROOT / "installers" / "windows" / "kimt.iss"
SPEC = ROOT / "build.spec"
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
SCRIPTS = [ROOT / "installers" / "linux" / "build.sh", ROOT / "installers" / "linux" / "install.sh",
           ROOT / "installers" / "macos" / "build.sh"]


def iss_value(key: str) -> str:
    text = ISS.read_text(encoding="utf-8")
    defines = dict(re.findall(r'^#define (\w+) "([^"]*)"', text, re.M))
    value = re.search(rf"^{key}=(.*)$", text, re.M).group(1).strip()
    return re.sub(r"\{#(\w+)\}", lambda m: defines.get(m.group(1), m.group(0)), value)


def test_windows_setup_waits_for_a_running_kimt_and_needs_no_admin():
    assert iss_value("AppMutex") == LOCK_NAME
    assert iss_value("PrivilegesRequired") == "lowest"
    assert iss_value("DefaultDirName") == r"{autopf}\KIMT"  # %LOCALAPPDATA%\Programs per user


def test_windows_setup_installs_what_the_spec_builds():
    spec = SPEC.read_text(encoding="utf-8")
    built = set(re.findall(r'EXE\(pyz, a\.scripts, \[\], name="(\w+)"', spec))
    assert {"kimt", "kimtw"} <= built
    text = ISS.read_text(encoding="utf-8")
    wizard = re.search(r'^#define WizardExe "(\w+)\.exe"', text, re.M).group(1)
    assert wizard in built
    assert re.search(r'name="kimtw", console=False', spec), "the Start-menu exe has a console"
    assert 'Source: "dist\\kimt\\*"' in text and 'name="kimt")' in spec  # COLLECT's folder


def test_macos_bundle_has_the_info_plist_keys():
    spec = SPEC.read_text(encoding="utf-8")
    for key in ("CFBundleShortVersionString", "NSHighResolutionCapable", "NSPrincipalClass"):
        assert f'"{key}"' in spec
    assert "bundle_identifier=BUNDLE_ID" in spec and "version=VERSION" in spec


def test_the_version_is_written_only_in_the_package():
    spec = SPEC.read_text(encoding="utf-8")
    assert '(ROOT / "kimt" / "__init__.py")' in spec
    for path in [SPEC, ISS, WORKFLOW, *SCRIPTS,
                 *(ROOT / "installers").rglob("*.txt"), *(ROOT / "installers").rglob("*.desktop")]:
        assert __version__ not in path.read_text(encoding="utf-8"), f"{path} names the version"


def test_the_workflow_uploads_what_the_builds_make():
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    job = flow["jobs"]["build"]
    systems = {entry["system"] for entry in job["strategy"]["matrix"]["include"]}
    assert systems == {"linux", "windows", "macos"}
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-"))
    patterns = upload["with"]["path"].split()
    made = [f"dist/kimt-{__version__}-linux-x86_64.tgz", f"dist/kimt-{__version__}-macos-arm64.dmg",
            "dist/" + iss_value("OutputBaseFilename").replace("{#AppVersion}", __version__)
            + ".exe"]
    for name in made:
        assert any(fnmatch.fnmatch(name, p) for p in patterns), f"{name} is not uploaded"
    tests = " ".join(s.get("run", "") for s in job["steps"])
    assert '-m "not rig"' in tests and "./scripts/test" in tests


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell scripts: checked where they run")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_are_executable_and_parse(script):
    assert os.access(script, os.X_OK), f"{script} is not executable (git update-index --chmod=+x)"
    shell = "sh" if script.name == "install.sh" else "bash"  # install.sh is POSIX sh
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell} here")
    check = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
