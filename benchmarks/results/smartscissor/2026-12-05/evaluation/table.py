#!/usr/bin/env python3
"""An evaluation's tables from its JSON line (the argument, default evaluation.json beside this
script), or from the rows in the .log of the same name while it runs: every row with its
trainings, then compound minus each other row as the mean of the paired differences (training r
of one network against training r of the other: same seed) and its standard error, in points."""
import json, math, sys, pathlib

src = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "evaluation.json"
done = [l for l in src.read_text().splitlines() if l.startswith("{")] if src.exists() else []
if done:
    rows = json.loads(done[-1])["rows"]
else:
    rows = [json.loads(l) for l in src.with_suffix(".log").read_text().splitlines() if l.startswith("{")]

if not rows:
    sys.exit(f"{src}: no rows yet")

def budget_name(r):
    return f"{r['budget'] * 100:.0f}% MACs" if r["unit"] == "macs_fraction" else f"{r['budget']:.3f} ms"

n = max(len(r.get("test_accuracies", [0])) for r in rows)
trainings = {1: "the training", 2: "the two trainings", 3: "the three trainings"}.get(n, f"the {n} trainings")
print(f"| budget | policy | depth | width | input px | of base MACs | measured ms | mean test accuracy | {trainings} |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if "infeasible" in r:
        print(f"| {budget_name(r)} | {r['policy']} | infeasible | | | | | | |")
        continue
    each = " / ".join(f"{a:.4f}" for a in r.get("test_accuracies", [r["test_accuracy"]]))
    print(f"| {budget_name(r)} | {r['policy']} | {r['depth']:.2f} | {r['width']:.2f} | {r['resolution']} | "
          f"{100 * r['macs_fraction']:.1f}% | {r['measured_ms']:.3f} | {r['test_accuracy']:.4f} | {each} |")

others = [p for p in dict.fromkeys(r["policy"] for r in rows) if p != "dic+compound"]
if not others:
    sys.exit(0)
accuracies = lambda r: r.get("test_accuracies", [r["test_accuracy"]])
names = {"dic+depth": "depth", "dic+width": "width", "dic+resolution": "resolution", "dic+efficientnet": "EfficientNet"}
print("\n| budget | " + " | ".join(names.get(p, p) for p in others) + " |\n|---|" + "---|" * len(others))
for b in dict.fromkeys(budget_name(r) for r in rows):
    at = {r["policy"]: r for r in rows if budget_name(r) == b}
    c = at.get("dic+compound")
    cells = []
    for p in others:
        o = at.get(p)
        if not c or "infeasible" in c or not o or "infeasible" in o:
            cells.append("infeasible")
            continue
        d = [100 * (x - y) for x, y in zip(accuracies(c), accuracies(o))]
        m = sum(d) / len(d)
        se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d)) if len(d) > 1 else float("nan")
        cells.append(f"{m:+.2f} ({se:.2f})")
    print(f"| {b} | " + " | ".join(cells) + " |")
