"""Draw KIMT's icon (an envelope moving right, on a blue tile) with Pillow.

    python assets/make_icon.py          # write every icon file
    python assets/make_icon.py --check  # exit 1 when a committed file differs from the drawing

Drawn once at 1024 px and scaled down (LANCZOS), so every size is antialiased
the same way. It writes:

- assets/kimt.png (512 px) and assets/png/kimt-N.png (16…256 px): the Linux
  menu icon at the sizes the freedesktop icon theme looks for;
- assets/kimt.ico (16…256 px): the Windows executable and installer;
- assets/kimt.icns (32…1024 px): the macOS app bundle;
- kimt/gui/icon.png (64 px): the window icon shipped with the package.

The files are committed (about 100 KB in all): the installer builds read them
as they are, on machines that need not run this script first, and a unit test
(tests/test_icons.py) redraws them and fails when they drift from this code.
Flat shapes keep the PNGs small.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageStat

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
BLUE, DARK, WHITE, GREEN = "#1f6feb", "#0b3d91", "#ffffff", "#2ea043"
MASTER = 1024
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)  # what Pillow's ICNS writer stores
WINDOW_SIZE = 64


def draw(px: int = MASTER) -> Image.Image:
    s = px / 512
    img = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([16 * s, 16 * s, 496 * s, 496 * s], radius=96 * s, fill=BLUE,
                        outline=DARK, width=max(1, int(8 * s)))
    # the envelope
    box = [72 * s, 150 * s, 352 * s, 350 * s]
    d.rounded_rectangle(box, radius=18 * s, fill=WHITE)
    d.line([(box[0] + 8 * s, box[1] + 12 * s), ((box[0] + box[2]) / 2, 262 * s),
            (box[2] - 8 * s, box[1] + 12 * s)], fill=DARK, width=max(1, int(16 * s)),
           joint="curve")
    # the arrow: mail goes to the new server
    d.rectangle([300 * s, 232 * s, 400 * s, 268 * s], fill=GREEN)
    d.polygon([(390 * s, 180 * s), (460 * s, 250 * s), (390 * s, 320 * s)], fill=GREEN)
    return img


def sized(master: Image.Image, px: int) -> Image.Image:
    return master if px == master.width else master.resize((px, px), Image.LANCZOS)


def render() -> dict[Path, bytes]:
    """{path: file bytes} of every icon file."""
    master = draw(MASTER)

    def png(px: int) -> bytes:
        out = io.BytesIO()
        sized(master, px).save(out, "PNG", optimize=True)
        return out.getvalue()

    files = {ASSETS / "kimt.png": png(512), ROOT / "kimt" / "gui" / "icon.png": png(WINDOW_SIZE)}
    for px in PNG_SIZES:
        files[ASSETS / "png" / f"kimt-{px}.png"] = png(px)
    ico = io.BytesIO()
    frames = [sized(master, px) for px in ICO_SIZES]
    frames[-1].save(ico, "ICO", sizes=[(px, px) for px in ICO_SIZES], append_images=frames[:-1])
    files[ASSETS / "kimt.ico"] = ico.getvalue()
    icns = io.BytesIO()
    master.save(icns, "ICNS", append_images=[sized(master, px) for px in ICNS_SIZES[:-1]])
    files[ASSETS / "kimt.icns"] = icns.getvalue()
    return files


def differs(path: Path, expected: bytes, tolerance: float = 2.0) -> str | None:
    """Why the file at `path` is not the drawing, or None. Pixels are compared, not
    bytes (another Pillow may compress the same image differently): the largest
    image of an .ico/.icns, and the list of sizes it holds."""
    if not path.exists():
        return "missing"
    want, have = Image.open(io.BytesIO(expected)), Image.open(path)
    if want.info.get("sizes") != have.info.get("sizes"):
        return f"holds sizes {have.info.get('sizes')} instead of {want.info.get('sizes')}"
    a, b = want.convert("RGBA"), have.convert("RGBA")
    if a.size != b.size:
        return f"{b.size} instead of {a.size}"
    mean = max(ImageStat.Stat(ImageChops.difference(a, b)).mean)
    return f"pixels differ (mean {mean:.1f} per channel)" if mean > tolerance else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare the committed files with the drawing, write nothing")
    args = ap.parse_args(argv)
    files = render()
    if args.check:
        problems = [f"{p.relative_to(ROOT)}: {why}" for p, data in files.items()
                    if (why := differs(p, data))]
        print("\n".join(problems) or "icons match the drawing")
        return 1 if problems else 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
