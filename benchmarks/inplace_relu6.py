"""A/B: MBConv baseline training step with in-place vs out-of-place ReLU6 (channels_last).

In-place ``hardtanh_`` clones its input under autograd on this torch build; the
out-of-place activation avoids the copy. Both variants are timed side by side, round by
round; medians of 5 rounds x 20 steps.

    .venv/bin/python benchmarks/inplace_relu6.py
"""
import torch, time, statistics
from torch import nn
from hasearch.catalog import resolve_space
torch.set_num_threads(2)
d = resolve_space("mbconv")
def build(inplace):
    torch.manual_seed(0)
    m = d.build(d.baseline, (1,28,28), 10)
    for mod in m.modules():
        if isinstance(mod, nn.ReLU6): mod.inplace = inplace
    return m.to(memory_format=torch.channels_last)
x = torch.randn(128,1,28,28).contiguous(memory_format=torch.channels_last); y = torch.randint(0,10,(128,))
res = {True: [], False: []}
for r in range(5):
    for inplace in (True, False):
        m = build(inplace); opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        ts=[]
        for i in range(23):
            t=time.perf_counter(); opt.zero_grad(); nn.functional.cross_entropy(m(x),y).backward(); opt.step(); ts.append(time.perf_counter()-t)
        res[inplace].append(statistics.median(ts[3:]))
inplace, outofplace = (statistics.median(res[k]) * 1000 for k in (True, False))
print(f"in-place ReLU6 {inplace:.1f} ms, out-of-place {outofplace:.1f} ms, ratio {inplace / outofplace:.2f}")
