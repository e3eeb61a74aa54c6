#!/usr/bin/env python3
"""Checks a chart written by `seqlm plot`: well-formed SVG, one series group per expected series
with the expected number of point markers, axis labels, and increasing tick values.

    check_svg.py CHART.svg SERIES=POINTS... [--title TEXT] [--panels N]

e.g. check_svg.py loss.svg loss=3 val_loss=2 accuracy=3 --title history.csv --panels 2.
Exits 1 with one line naming what is wrong.
"""
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def fail(message):
    print("check_svg: %s: %s" % (sys.argv[1], message), file=sys.stderr)
    sys.exit(1)


args = sys.argv[2:]
title = None
panels = None
expected = {}
while args:
    item = args.pop(0)
    if item == "--title":
        title = args.pop(0)
    elif item == "--panels":
        panels = int(args.pop(0))
    else:
        name, count = item.split("=")
        expected[name] = int(count)

try:
    root = ET.parse(sys.argv[1]).getroot()
except ET.ParseError as error:
    fail("not well-formed XML: %s" % error)
if root.tag != NS + "svg":
    fail("the root element is %s, not svg" % root.tag)

groups = {g.get("data-series"): g for g in root.iter(NS + "g") if g.get("class") == "series"}
if set(groups) != set(expected):
    fail("series %s, expected %s" % (sorted(groups), sorted(expected)))
for name, count in expected.items():
    markers = groups[name].findall(NS + "circle")
    if len(markers) != count:
        fail("series %s has %d points, expected %d" % (name, len(markers), count))
    line_points = sum(len(p.get("points").split()) for p in groups[name].findall(NS + "polyline"))
    if count >= 2 and line_points == 0:
        fail("series %s has no line" % name)
    if line_points > count:
        fail("series %s: its lines have %d points, more than its %d markers" % (name, line_points, count))

found_panels = [g for g in root.iter(NS + "g") if g.get("class") == "panel"]
if panels is not None and len(found_panels) != panels:
    fail("%d panels, expected %d" % (len(found_panels), panels))
for panel in found_panels:
    labels = {t.get("class"): "".join(t.itertext()) for t in panel.iter(NS + "text")}
    if labels.get("x-label") != "epoch":
        fail("panel %s: no x-axis label \"epoch\"" % panel.get("data-metric"))
    if labels.get("y-label") != panel.get("data-metric"):
        fail("panel %s: the y-axis label is %r" % (panel.get("data-metric"), labels.get("y-label")))
    for axis in ("x-ticks", "y-ticks"):
        group = [g for g in panel.iter(NS + "g") if g.get("class") == axis]
        if len(group) != 1:
            fail("panel %s: no %s" % (panel.get("data-metric"), axis))
        ticks = [float(t.get("data-value")) for t in group[0].iter(NS + "text")]
        if len(ticks) < 2 or any(b <= a for a, b in zip(ticks, ticks[1:])):
            fail("panel %s: %s are not increasing: %s" % (panel.get("data-metric"), axis, ticks))
if title is not None:
    titles = ["".join(t.itertext()) for t in root.iter(NS + "text") if t.get("class") == "title"]
    if titles != [title]:
        fail("title %s, expected %r" % (titles, title))
