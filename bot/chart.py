"""The /stats chart: grouped bars per day, drawn with Pillow (PNG bytes).

Pillow alone (one wheel, no other dependencies, no font cache or backend to configure) is
enough for four bar series; matplotlib would bring half a dozen packages for this. The labels
are ASCII (Pillow's bundled font has no Chinese glyphs); the Chinese legend goes in the
photo's caption.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from PIL import Image, ImageDraw, ImageFont

COLOURS = ("#4c78a8", "#54a24b", "#f58518", "#e45756")
LEGEND = ("asked", "answered", "handed off", "unanswered")


def bar_chart(days: Sequence[tuple[date, Sequence[int]]], *, width: int = 900,
              height: int = 420) -> bytes:
    """PNG bytes: for each day a group of bars (one per series, in COLOURS' order)."""
    font = ImageFont.load_default(size=13)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 48, 16, 40, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _, values in days for v in values), default=0) or 1
    # axes and a few grid lines
    draw.line((left, top, left, top + plot_h), fill="#333333")
    draw.line((left, top + plot_h, left + plot_w, top + plot_h), fill="#333333")
    for i in range(5):
        value = round(peak * i / 4)
        y = top + plot_h - plot_h * value / peak
        draw.line((left, y, left + plot_w, y), fill="#e6e6e6")
        draw.text((left - 6, y), str(value), fill="#333333", font=font, anchor="rm")
    series = len(COLOURS)
    group = plot_w / max(len(days), 1)
    bar = max(group * 0.8 / series, 1)
    for d, (day, values) in enumerate(days):
        x0 = left + d * group + group * 0.1
        for k, value in enumerate(values[:series]):
            h = plot_h * value / peak
            x = x0 + k * bar
            if value:
                draw.rectangle((x, top + plot_h - h, x + bar - 1, top + plot_h),
                               fill=COLOURS[k])
        draw.text((left + d * group + group / 2, top + plot_h + 6), f"{day:%m-%d}",
                  fill="#333333", font=font, anchor="mt")
    x = left
    for colour, name in zip(COLOURS, LEGEND, strict=True):
        draw.rectangle((x, 12, x + 12, 24), fill=colour)
        draw.text((x + 16, 18), name, fill="#333333", font=font, anchor="lm")
        x += 30 + int(draw.textlength(name, font=font))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
