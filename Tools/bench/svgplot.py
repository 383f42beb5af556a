"""A small SVG chart writer for the benchmark report (Python standard library only).

Two chart kinds, each returned as a complete SVG document (a string):

  line_chart(title, x_label, y_label, series, log2_x=False, log_y=False, log10_x=False, sort_x=True)
      series: [(name, [(x, y), ...] or [(x, y, y_min, y_max), ...])]; the optional min/max draw an error bar.
      log2_x puts x on a base-2 log scale with ticks at powers of two (concurrency, batch size).
  bar_chart(title, categories, y_label, series, log_y=False)
      grouped bars: series is [(name, [value per category])]; a value may be (value, min, max) for an error bar,
      or None for a missing bar.

Both draw axes, ticks with gridlines, axis labels and a legend. Usage from the command line (a demo):
  python3 svgplot.py OUT_DIR
"""
import math
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 78, 190, 44, 58
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
DASHES = ["", "6,3", "2,3", "8,3,2,3"]


def _fmt(value):
    """A short tick label: 1.5k, 2M, 0.25, 12."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            text = ("%.2f" % (value / limit)).rstrip("0").rstrip(".")
            return text + suffix
    if magnitude >= 1:
        return ("%.2f" % value).rstrip("0").rstrip(".")
    return ("%.3g" % value)


def _nice_step(span, count):
    raw = span / max(1, count)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _linear_ticks(low, high, count=6):
    if high <= low:
        high = low + 1
    step = _nice_step(high - low, count)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)  # the top tick is at or above the highest value: nothing is clipped
    ticks = [round(i * step, 12) for i in range(first, last + 1)]
    return ticks[0], ticks[-1], ticks


def _log10_ticks(low, high):
    low_exp = math.floor(math.log10(low))
    high_exp = math.ceil(math.log10(high))
    if high_exp == low_exp:
        high_exp += 1
    return 10.0 ** low_exp, 10.0 ** high_exp, [10.0 ** e for e in range(low_exp, high_exp + 1)]


def _log2_ticks(low, high):
    low_exp = math.floor(math.log2(low))
    high_exp = math.ceil(math.log2(high))
    if high_exp == low_exp:
        high_exp += 1
    return 2.0 ** low_exp, 2.0 ** high_exp, [2.0 ** e for e in range(low_exp, high_exp + 1)]


class _Axis:
    def __init__(self, values, log2=False, log10=False, start_at_zero=True):
        values = [v for v in values if v is not None and (v > 0 or not (log2 or log10))]
        if not values:
            values = [1.0]
        low, high = min(values), max(values)
        self.log2, self.log10 = log2, log10
        if log2:
            self.low, self.high, self.ticks = _log2_ticks(low, high)
        elif log10:
            self.low, self.high, self.ticks = _log10_ticks(low, high)
        else:
            if start_at_zero:
                low = min(0.0, low)
            self.low, self.high, self.ticks = _linear_ticks(low, high * 1.05 if high > 0 else high)

    def fraction(self, value):
        if self.log2 or self.log10:
            value = max(value, self.low)
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)


class _Canvas:
    def __init__(self, title):
        self.parts = [
            '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
            'font-family="Helvetica, Arial, sans-serif" font-size="12">' % (WIDTH, HEIGHT, WIDTH, HEIGHT),
            '<rect width="100%" height="100%" fill="white"/>',
        ]
        self.text(WIDTH / 2 - RIGHT / 2 + LEFT / 2, 24, title, size=15, anchor="middle", weight="bold")
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM

    def text(self, x, y, content, size=12, anchor="start", weight="normal", rotate=None, fill="#222"):
        transform = ' transform="rotate(%d %.1f %.1f)"' % (rotate, x, y) if rotate else ""
        self.parts.append('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" font-weight="%s" fill="%s"%s>%s'
                          '</text>' % (x, y, size, anchor, weight, fill, transform, escape(str(content))))

    def line(self, x1, y1, x2, y2, stroke="#222", width=1.0, dash=""):
        dash_attr = ' stroke-dasharray="%s"' % dash if dash else ""
        self.parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>'
                          % (x1, y1, x2, y2, stroke, width, dash_attr))

    def rect(self, x, y, w, h, fill):
        self.parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>' % (x, y, w, h, fill))

    def px(self, axis, value):
        return LEFT + axis.fraction(value) * self.plot_w

    def py(self, axis, value):
        return TOP + self.plot_h - axis.fraction(value) * self.plot_h

    def y_axis(self, axis, label):
        for tick in axis.ticks:
            y = self.py(axis, tick)
            self.line(LEFT, y, LEFT + self.plot_w, y, stroke="#e4e4e4")
            self.line(LEFT - 4, y, LEFT, y)
            self.text(LEFT - 7, y + 4, _fmt(tick), anchor="end")
        self.line(LEFT, TOP, LEFT, TOP + self.plot_h)
        self.text(18, TOP + self.plot_h / 2, label, anchor="middle", rotate=-90)

    def x_label(self, label):
        self.line(LEFT, TOP + self.plot_h, LEFT + self.plot_w, TOP + self.plot_h)
        self.text(LEFT + self.plot_w / 2, HEIGHT - 14, label, anchor="middle")

    def legend(self, entries):
        """entries: [(name, colour, dash, kind)] with kind 'line' or 'box'."""
        x = LEFT + self.plot_w + 16
        y = TOP + 6
        for name, colour, dash, kind in entries:
            if kind == "box":
                self.rect(x, y - 9, 18, 10, colour)
            else:
                self.line(x, y - 4, x + 18, y - 4, stroke=colour, width=2.2, dash=dash)
                self.parts.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (x + 9, y - 4, colour))
            for i, chunk in enumerate(_wrap(name, 22)):
                self.text(x + 24, y + i * 14, chunk, size=11)
            y += 14 * len(_wrap(name, 22)) + 6

    def done(self):
        return "\n".join(self.parts + ["</svg>"]) + "\n"


def _wrap(text, width):
    words, lines, current = str(text).split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = (current + " " + word).strip()
    return lines + [current] if current else lines or [""]


def _point(p):
    if len(p) >= 4:
        return p[0], p[1], p[2], p[3]
    return p[0], p[1], None, None


def line_chart(title, x_label, y_label, series, log2_x=False, log_y=False, log10_x=False, sort_x=True):
    """Lines with markers, one per series; (x, y, y_min, y_max) points get a min-max bar. sort_x=False keeps the
    given order (a latency-vs-throughput curve follows increasing concurrency, not increasing x)."""
    series = [(name, [_point(p) for p in points if p[1] is not None]) for name, points in series]
    if sort_x:
        series = [(name, sorted(points, key=lambda q: q[0])) for name, points in series]
    series = [(name, points) for name, points in series if points]
    xs = [p[0] for _, points in series for p in points]
    ys = [v for _, points in series for p in points for v in (p[1], p[2], p[3]) if v is not None]
    x_axis = _Axis(xs, log2=log2_x, log10=log10_x, start_at_zero=not (log2_x or log10_x))
    y_axis = _Axis(ys, log10=log_y)
    canvas = _Canvas(title)
    canvas.y_axis(y_axis, y_label)
    for tick in x_axis.ticks:
        x = canvas.px(x_axis, tick)
        canvas.line(x, TOP, x, TOP + canvas.plot_h, stroke="#f0f0f0")
        canvas.line(x, TOP + canvas.plot_h, x, TOP + canvas.plot_h + 4)
        canvas.text(x, TOP + canvas.plot_h + 18, _fmt(tick), anchor="middle")
    canvas.x_label(x_label + (" (log2 scale)" if log2_x else " (log scale)" if log10_x else ""))
    legend = []
    for index, (name, points) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        dash = DASHES[(index // len(PALETTE)) % len(DASHES)] if len(series) <= len(PALETTE) else DASHES[index % len(DASHES)]
        coords = [(canvas.px(x_axis, x), canvas.py(y_axis, y)) for x, y, _, _ in points]
        dash_attr = ' stroke-dasharray="%s"' % dash if dash else ""
        canvas.parts.append('<polyline fill="none" stroke="%s" stroke-width="2.2"%s points="%s"/>' % (
            colour, dash_attr, " ".join("%.1f,%.1f" % c for c in coords)))
        for (x, y, low, high), (cx, cy) in zip(points, coords):
            if low is not None and high is not None and high > low:
                canvas.line(cx, canvas.py(y_axis, low), cx, canvas.py(y_axis, high), stroke=colour, width=1.2)
                canvas.line(cx - 3, canvas.py(y_axis, low), cx + 3, canvas.py(y_axis, low), stroke=colour)
                canvas.line(cx - 3, canvas.py(y_axis, high), cx + 3, canvas.py(y_axis, high), stroke=colour)
            canvas.parts.append('<circle cx="%.1f" cy="%.1f" r="3.2" fill="%s"><title>%s: %s, %s</title></circle>'
                                % (cx, cy, colour, escape(name), _fmt(x), _fmt(y)))
        legend.append((name, colour, dash, "line"))
    canvas.legend(legend)
    if not series:
        canvas.text(LEFT + canvas.plot_w / 2, TOP + canvas.plot_h / 2, "no data", anchor="middle")
    return canvas.done()


def bar_chart(title, categories, y_label, series, log_y=False, x_label=""):
    """Grouped bars: one group per category, one bar per series; (value, min, max) draws a min-max bar."""
    def parts(v):
        if v is None:
            return None, None, None
        if isinstance(v, (tuple, list)):
            return v[0], v[1], v[2]
        return v, None, None

    values = [x for _, vals in series for v in vals for x in parts(v) if x is not None]
    y_axis = _Axis(values, log10=log_y)
    canvas = _Canvas(title)
    canvas.y_axis(y_axis, y_label)
    canvas.x_label(x_label)
    group_w = canvas.plot_w / max(1, len(categories))
    bar_w = group_w * 0.8 / max(1, len(series))
    base = y_axis.low if log_y else max(y_axis.low, 0.0)
    for ci, category in enumerate(categories):
        gx = LEFT + ci * group_w + group_w * 0.1
        for si, (name, vals) in enumerate(series):
            value, low, high = parts(vals[ci] if ci < len(vals) else None)
            if value is None:
                continue
            colour = PALETTE[si % len(PALETTE)]
            top = canvas.py(y_axis, value)
            bottom = canvas.py(y_axis, base)
            x = gx + si * bar_w
            canvas.parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s'
                                '</title></rect>' % (x, top, max(bar_w - 1, 1), max(bottom - top, 0.5), colour,
                                                     escape(name), escape(str(category)), _fmt(value)))
            if low is not None and high is not None and high > low:
                cx = x + bar_w / 2
                canvas.line(cx, canvas.py(y_axis, low), cx, canvas.py(y_axis, high), width=1.2)
        label_lines = _wrap(category, max(6, int(group_w / 7)))
        for li, chunk in enumerate(label_lines[:2]):
            canvas.text(LEFT + ci * group_w + group_w / 2, TOP + canvas.plot_h + 16 + li * 13, chunk, size=11,
                        anchor="middle")
    canvas.legend([(name, PALETTE[i % len(PALETTE)], "", "box") for i, (name, _) in enumerate(series)])
    return canvas.done()


def write(path, svg):
    with open(path, "w") as f:
        f.write(svg)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    write(out + "/demo-line.svg", line_chart(
        "demo: throughput vs concurrency", "concurrency", "requests/s",
        [("batching on", [(1, 900, 850, 950), (2, 1700), (4, 3000), (8, 5200), (16, 7400), (32, 8100), (64, 8200)]),
         ("batching off", [(1, 950), (2, 1300), (4, 1400), (8, 1450), (16, 1450), (32, 1440), (64, 1430)])],
        log2_x=True))
    write(out + "/demo-bar.svg", bar_chart(
        "demo: batch sizes", ["1", "2-3", "4-7", "8-15", "16-31", "32-63"], "share of requests (%)",
        [("mlp-large c=32", [2, 3, 5, 10, 50, 30]), ("digits c=32", [(40, 35, 45), 30, 20, 10, None, None])]))
