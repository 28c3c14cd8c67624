#!/usr/bin/env python3
"""The evaluation's tables from evaluation.json (or the rows in evaluation.log while it runs):
every row with its three trainings, then compound minus each alternative as the mean of the
paired differences (training r of one network against training r of the other: same seed) and
its standard error, in points."""
import json, math, sys, pathlib

here = pathlib.Path(__file__).parent
src = here / "evaluation.json"
done = [l for l in src.read_text().splitlines() if l.startswith("{")] if src.exists() else []
if done:
    rows = json.loads(done[-1])["rows"]
else:
    rows = [json.loads(l) for l in (here / "evaluation.log").read_text().splitlines() if l.startswith("{")]

def budget_name(r):
    return f"{r['budget'] * 100:.0f}% MACs" if r["unit"] == "macs_fraction" else f"{r['budget']:.3f} ms"

print("| budget | policy | depth | width | input px | of base MACs | measured ms | mean test accuracy | the three trainings |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if "infeasible" in r:
        print(f"| {budget_name(r)} | {r['policy']} | infeasible | | | | | | |")
        continue
    each = " / ".join(f"{a:.4f}" for a in r.get("test_accuracies", [r["test_accuracy"]]))
    print(f"| {budget_name(r)} | {r['policy']} | {r['depth']:.2f} | {r['width']:.2f} | {r['resolution']} | "
          f"{100 * r['macs_fraction']:.1f}% | {r['measured_ms']:.3f} | {r['test_accuracy']:.4f} | {each} |")

print("\n| budget | depth | width | resolution | EfficientNet | resize-only |\n|---|---|---|---|---|---|")
others = ["dic+depth", "dic+width", "dic+resolution", "dic+efficientnet", "resize-only"]
for b in dict.fromkeys(budget_name(r) for r in rows):
    at = {r["policy"]: r for r in rows if budget_name(r) == b}
    c = at.get("dic+compound")
    cells = []
    for p in others:
        o = at.get(p)
        if not c or "infeasible" in c or not o or "infeasible" in o:
            cells.append("infeasible")
            continue
        d = [100 * (x - y) for x, y in zip(c["test_accuracies"], o["test_accuracies"])]
        m = sum(d) / len(d)
        se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d)) if len(d) > 1 else float("nan")
        cells.append(f"{m:+.2f} ({se:.2f})")
    print(f"| {b} | " + " | ".join(cells) + " |")
