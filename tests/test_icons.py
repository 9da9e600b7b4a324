"""The committed icon files are what assets/make_icon.py draws, at the sizes each system needs."""

from __future__ import annotations

import importlib.util
import io

import pytest
from helpers import ROOT
from PIL import Image

spec = importlib.util.spec_from_file_location("make_icon", ROOT / "assets" / "make_icon.py")
make_icon = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_icon)
RENDERED = make_icon.render()


@pytest.mark.parametrize("path", sorted(RENDERED), ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_icon_matches_the_drawing(path):
    assert make_icon.differs(path, RENDERED[path]) is None, (
        f"{path} is out of date: run python assets/make_icon.py")


def test_each_system_gets_its_sizes():
    ico = Image.open(ROOT / "assets" / "kimt.ico")
    assert {w for w, _ in ico.info["sizes"]} == {16, 24, 32, 48, 64, 128, 256}
    icns = Image.open(ROOT / "assets" / "kimt.icns")
    assert icns.size == (1024, 1024) and (32, 32, 2) in icns.info["sizes"]
    for px in make_icon.PNG_SIZES:
        assert Image.open(ROOT / "assets" / "png" / f"kimt-{px}.png").size == (px, px)
    assert Image.open(ROOT / "kimt" / "gui" / "icon.png").size == (64, 64)


def test_a_changed_icon_is_noticed(tmp_path):
    drawn = RENDERED[ROOT / "assets" / "kimt.png"]
    changed = Image.open(io.BytesIO(drawn)).convert("RGBA")
    changed.paste((255, 0, 0, 255), (100, 100, 220, 220))
    changed.save(tmp_path / "kimt.png")
    assert "pixels differ" in make_icon.differs(tmp_path / "kimt.png", drawn)
    assert make_icon.differs(tmp_path / "absent.png", drawn) == "missing"


def test_icon_files_stay_small():
    total = sum(len(data) for data in RENDERED.values())
    assert total < 250_000, f"icons take {total:,} bytes"
