"""kefer_torch's KE-FER losses and their autograd gradients for given inputs (the test compares them with
the float64 reference in test/engine/loss-reference.ts). usage: python losses.py CASES.json OUT.json
Each case: v, n [B, D], t [K, D] (not normalised), y [B], neutral, contrast, dtype 'float32'|'float64',
optional classWeights. Output per case: total, ls, lt, lc, gv, gn."""
import json
import sys

import torch

from kefer_torch.losses import kefer_loss, l2normalize

cases = json.load(open(sys.argv[1]))
out = []
for c in cases:
    dt = getattr(torch, c["dtype"])
    v = torch.tensor(c["v"], dtype=dt, requires_grad=True)
    n = torch.tensor(c["n"], dtype=dt, requires_grad=True)
    t = l2normalize(torch.tensor(c["t"], dtype=dt))
    y = torch.tensor(c["y"], dtype=torch.int64)
    total, ls, lt, lc, _ = kefer_loss(v, n, t, y, c["neutral"], c["contrast"], class_weights=c.get("classWeights"))
    total.backward()
    out.append({"total": total.item(), "ls": ls.item(), "lt": lt.item(), "lc": lc.item(), "gv": v.grad.tolist(), "gn": n.grad.tolist()})
json.dump(out, open(sys.argv[2], "w"))
