"""Draw KIMT's icon (an envelope moving right, on a blue tile) with Pillow.

    python assets/make_icon.py

writes assets/kimt.png (512 px, the source the installers turn into
.ico/.icns) and kimt/gui/icon.png (64 px, the window icon shipped with the
package). Drawn in code so it can be changed without an image editor.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
BLUE, DARK, WHITE, GREEN = "#1f6feb", "#0b3d91", "#ffffff", "#2ea043"


def draw(px: int = 512) -> Image.Image:
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


def main() -> None:
    big = draw(512)
    big.save(ROOT / "assets" / "kimt.png")
    big.resize((64, 64), Image.LANCZOS).save(ROOT / "kimt" / "gui" / "icon.png")
    print("wrote assets/kimt.png and kimt/gui/icon.png")


if __name__ == "__main__":
    main()
