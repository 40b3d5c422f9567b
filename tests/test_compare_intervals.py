"""No interval of an accuracy or a share leaves [0, 1] in any table format, plot band or report, on stores
built with the extreme samples that broke the t-interval (issue 28: ``72.0 ± 47.3``, ``0.50 ± 6.35``):
one seed, two seeds at 0 and 1, seeds all equal."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import pytest
from rich.console import Console

from compare.grid.cells import Cell
from compare.results.report import build
from compare.results.store import CellResult, Store
from compare.results.tables import FORMATS, render, summarize

MODULAR = "modular:op=x+y,p=7"
BRACKETS = "brackets:kind=dyck1"
#: n -> the seeds' accuracies: one seed, two at the extremes, all equal, and a skewed three.
EXTREMES = {8: [0.3], 16: [0.0, 1.0], 32: [1.0, 1.0, 1.0], 64: [0.0, 0.0, 1.0]}
INTERVAL = re.compile(r"\[(-?[\d.]+), (-?[\d.]+)\]")


def _alignment(share_aligned: bool) -> dict:
    iia = 0.95 if share_aligned else 0.1
    return {"aligned": int(share_aligned) + 1, "of": 3, "threshold": 0.9, "programs": [{
        "source": "map", "program": "add(sq(x), y)", "bits": 12.0,
        "subexpressions": [{"expression": "sq(x)", "iia": iia}, {"expression": "sub(x, y)", "iia": iia},
                           {"expression": "add(sq(x), y)", "iia": 0.99}]}]}


def make_store(path: Path) -> Path:
    with Store(path) as store:
        for task in (MODULAR, BRACKETS):
            for n, accuracies in EXTREMES.items():
                for seed, acc in enumerate(accuracies):
                    ood = {"longer": acc} if task == BRACKETS else {}
                    net = CellResult(train_accuracy=1.0, test_accuracy=acc, ood=ood)
                    net.metrics["alignment"] = _alignment(acc == 1.0)
                    store.put(Cell(task, "transformer", "transformer:steps=10", n, seed), net)
                    store.put(Cell(task, "lookup", "lookup", n, seed), CellResult(test_accuracy=acc, ood=ood))
    return path


def _intervals(text: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in INTERVAL.findall(text)]


@pytest.fixture
def summaries(tmp_path):
    with Store(make_store(tmp_path / "s.sqlite"), create=False) as store:
        return summarize(store.rows())


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f not in ("csv", "json", "rich")])
def test_text_tables_keep_accuracy_intervals_in_range(summaries, fmt):
    text = render(summaries, fmt)
    assert "±" not in text and r"\pm" not in text
    found = _intervals(text)
    assert len(found) >= 3 * 2 * 2  # three sizes with ≥ 2 seeds, two methods, two tasks
    assert all(0 <= low <= high <= 100 for low, high in found), found
    assert "30.0 [n/a: 1 seed]" in text  # one seed: no interval, the count instead
    assert "50.0 [0.0, 100.0]" in text  # seeds at 0 and 1: the widest interval, not 50 ± 635


def test_rich_table_keeps_intervals_in_range(summaries):
    console = Console(width=250, record=True)
    for renderable in render(summaries, "rich"):
        console.print(renderable)
    found = _intervals(console.export_text())
    assert found and all(0 <= low <= high <= 100 for low, high in found)


def test_csv_and_json_intervals_are_in_range_or_absent(summaries):
    records = list(csv.DictReader(io.StringIO(render(summaries, "csv"))))
    for record in records:
        if record["seeds"] == "1":
            assert record["ci_low"] == record["ci_high"] == ""  # no interval from one seed
        else:
            assert 0 <= float(record["ci_low"]) <= float(record["mean"]) <= float(record["ci_high"]) <= 1
    points = [p for d in json.loads(render(summaries, "json")) for p in d["curve"]]
    points += [p for d in json.loads(render(summaries, "json")) for c in d["ood"].values() for p in c]
    assert {p["seeds"] for p in points} == {1, 2, 3}
    for p in points:
        ends = (p["ci_low"], p["ci_high"])
        assert ends == (None, None) if p["seeds"] == 1 else 0 <= ends[0] <= ends[1] <= 1


def test_plot_bands_stay_in_range(summaries, tmp_path, monkeypatch):
    import matplotlib.axes

    from compare.results.plots import plot_summaries

    bands = []
    original = matplotlib.axes.Axes.fill_between

    def record(self, x, low, high, *args, **kwargs):
        bands.append((list(low), list(high)))
        return original(self, x, low, high, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between", record)
    plot_summaries(summaries, tmp_path)
    ends = [v for low, high in bands for v in (*low, *high)]
    assert ends and all(math.isnan(v) or 0 <= v <= 1 for v in ends)
    assert any(math.isnan(v) for v in ends)  # the one-seed size has no band


def test_report_intervals_of_accuracies_and_shares_stay_in_range(tmp_path):
    text = build(make_store(tmp_path / "s.sqlite"), tmp_path / "out").read_text()
    assert "±" not in text
    sections = dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    for name in ("Sample efficiency", "Out-of-distribution accuracy by method"):
        found = _intervals(sections[name])
        assert found and all(0 <= low <= high <= 100 for low, high in found), (name, found)
    shares = [line.split(" | ")[4] for line in sections["Program ↔ network alignment"].splitlines()
              if line.startswith(f"| {MODULAR}")]
    found = _intervals(" ".join(shares))
    assert found and all(0 <= low <= high <= 1 for low, high in found), shares
    claims = sections["Claims"]
    share_row = next(line for line in claims.splitlines() if "programs inside networks" in line)
    assert all(0 <= low <= high <= 1 for low, high in _intervals(share_row.split(" | ", 2)[2]))
