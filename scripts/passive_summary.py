#!/usr/bin/env python3
"""Summarises the TSV of `cargo run --profile iterate --example measure_passive`: live rejections
and accepted attacks at the texture threshold 0.5 per normalisation column, per capture and per
attack type, and the medium cue's strength distribution (docs/thresholds.md)."""
import csv,collections,sys
rows=list(csv.DictReader(open(sys.argv[1]),delimiter='\t'))
cols=['t_off','t130','t130b','wbface','wbhalf','gw']
live=[r for r in rows if r['class']=='live']
orig=[r for r in live if r['variant']=='original']
import statistics
print("ref chroma from live originals: cR med", statistics.median(float(r['cr']) for r in orig), "cB med", statistics.median(float(r['cb']) for r in orig))
print("live by variant (rejected at 0.5)")
by=collections.defaultdict(list)
for r in live: by[r['variant']].append(r)
for k,rr in by.items():
    print(f"  {k:26s} n={len(rr)} " + " ".join(f"{c}:{sum(float(r[c])<0.5 for r in rr)}" for c in cols) + f"  medium>0.85:{sum(float(r['medium'])>0.85 for r in rr)} >0.8:{sum(float(r['medium'])>0.8 for r in rr)}")
print("  TOTAL live", len(live), " ".join(f"{c}:{sum(float(r[c])<0.5 for r in live)}" for c in cols))
print("attacks by class (accepted at 0.5)")
by=collections.defaultdict(list)
for r in rows:
    if r['class']!='live': by[(r['class'], r['variant']=='original')].append(r)
for k,rr in sorted(by.items()):
    print(f"  {str(k):36s} n={len(rr)} " + " ".join(f"{c}:{sum(float(r[c])>=0.5 for r in rr)}" for c in cols)+ f"  medium>0.85:{sum(float(r['medium'])>0.85 for r in rr)} >0.8:{sum(float(r['medium'])>0.8 for r in rr)}")

M = float(sys.argv[2]) if len(sys.argv) > 2 else 0.65
live_m = sorted(float(r['medium']) for r in live)
print(f"medium strength, live: max {live_m[-1]:.3f} p99 {live_m[int(len(live_m)*.99)]:.3f} p95 {live_m[int(len(live_m)*.95)]:.3f}")
att = [r for r in rows if r['class'] != 'live']
for th in [0.5, 0.4, 0.3, 0.2, 0.1]:
    b = sum(float(r['t130']) < th or float(r['medium']) > M for r in live)
    a = sum(float(r['t130']) >= th and float(r['medium']) <= M for r in att)
    print(f"texture threshold {th} with medium > {M}: live rejected {b}/{len(live)}, attacks accepted {a}/{len(att)}")
