"""Charts as small PNGs, drawn with matplotlib (Agg, no display) by a short-lived child process
(``python -m handlers.charts``): the bot neither starts with matplotlib nor keeps it. Imported,
matplotlib holds ~50 MB for the life of the process, for a chart drawn once a week.

Sized for a phone: 800 x 450 pixels, large type, two panels side by side — leads delivered per
week against the target (bars and a dashed target line), and the share followed up within the
SLA against its target. Quantised to a small palette: ~15 KB, well inside Slack's and Teams'
limits for an image.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import threading
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from handlers.scoreboard import Week

_lock = threading.Lock()  # pyplot's state is global: one drawing at a time
BLUE, ORANGE, GREY, GREEN = "#1d4ed8", "#f97316", "#6b7280", "#16a34a"
TIMEOUT = 120  # seconds for the child to draw (it takes about one, matplotlib's import included)


class ChartError(RuntimeError):
    """The child process could not draw the chart."""


def weekly_chart(weeks: list["Week"], *, title: str) -> bytes:
    """The weekly scoreboard chart: PNG bytes, drawn by a child process."""
    spec = json.dumps({"title": title, "weeks": [dataclasses.asdict(w) for w in weeks]})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "handlers.charts"], input=spec.encode(), capture_output=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired as e:
        raise ChartError(f"drawing the weekly chart took longer than {TIMEOUT} s") from e
    if done.returncode != 0 or not done.stdout.startswith(b"\x89PNG"):
        why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise ChartError(f"drawing the weekly chart failed: {why[0][:300]}")
    return done.stdout


def _draw(weeks, *, title: str) -> bytes:
    """The drawing itself (in the child): ``weeks`` are anything with ``Week``'s attributes."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from PIL import Image as PILImage

    labels = [w.label for w in weeks]
    x = list(range(len(weeks)))
    with _lock:
        fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4.5), dpi=100)
        try:
            fig.suptitle(title, fontsize=15, fontweight="bold")
            left.bar(x, [w.delivered for w in weeks], color=BLUE, label="delivered")
            targets = [w.target for w in weeks]
            if any(t is not None for t in targets):
                left.plot(
                    x,
                    [t if t is not None else float("nan") for t in targets],
                    color=ORANGE,
                    linestyle="--",
                    linewidth=2.5,
                    label="target",
                )
            left.set_title("Qualified leads per week", fontsize=13)
            top = max([w.delivered for w in weeks] + [t or 0 for t in targets] + [1])
            left.set_ylim(0, top * 1.35)  # room for the legend above the bars
            shares = [100 * w.within_sla if w.within_sla is not None else float("nan") for w in weeks]
            right.plot(x, shares, color=GREEN, marker="o", linewidth=2.5, label="within SLA")
            goal = next((w.within_target for w in weeks if w.within_target is not None), None)
            if goal is not None:
                right.axhline(100 * goal, color=ORANGE, linestyle="--", linewidth=2.5, label="target")
            right.set_ylim(0, 130)
            right.set_yticks([0, 25, 50, 75, 100])
            right.set_title("Followed up within the SLA (%)", fontsize=13)
            step = max(1, len(weeks) // 4)
            for ax in (left, right):
                ax.set_xticks(x[::step], labels[::step], fontsize=11)
                ax.tick_params(axis="y", labelsize=11)
                ax.spines[["top", "right"]].set_visible(False)
                ax.grid(axis="y", color="#e5e7eb")
                ax.set_axisbelow(True)
                ax.legend(fontsize=10, frameon=False, loc="upper left", ncols=2)
            # Fixed margins (tight_layout measures every label first: a quarter of the time).
            fig.subplots_adjust(left=0.065, right=0.985, top=0.83, bottom=0.09, wspace=0.22)
            fig.canvas.draw()  # the pixels straight to Pillow: one PNG encoding, not two
            width, height = fig.canvas.get_width_height()
            # An Agg canvas (this figure's) has buffer_rgba; matplotlib types fig.canvas as the base class.
            pixels = bytes(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
            img = PILImage.frombuffer("RGBA", (width, height), pixels, "raw", "RGBA", 0, 1)
        finally:
            plt.close(fig)
    img = img.convert("RGB").quantize(colors=32)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


if __name__ == "__main__":  # the child: the chart's spec as JSON on stdin, the PNG on stdout
    spec = json.load(sys.stdin.buffer)
    sys.stdout.buffer.write(_draw([SimpleNamespace(**w) for w in spec["weeks"]], title=spec["title"]))
