"""Probe of the batched CNN step's convolution cost on the GPU (issue 10, "why is the 100-client step slow").

The batched engine (docs/batching.md) runs the papers' CNN for N clients as grouped convolutions (groups = N,
input [B, N·C, H, W]) and bmm for the linear layers. This script times forward + backward of exactly those ops
in plain PyTorch for N clients × B samples under cuDNN's default heuristics, with cudnn.benchmark (autotuned
algorithms) and with channels-last tensors, so the choice can be made from numbers. Prints one JSON line per
variant with ms per fwd+bwd and achieved TFLOP/s (25.6 MFLOP per sample for fwd+bwd of the CNN on 28×28).
  python3 bench/fl_conv_probe.py [--clients 100] [--batch 32] [--iters 20]
"""
import argparse, json, time
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--clients", type=int, default=100)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--iters", type=int, default=20)
a = ap.parse_args()
N, B, dev = a.clients, a.batch, torch.device("cuda")
torch.manual_seed(0)


def params():
    p = [torch.randn(N * 32, 1, 5, 5, device=dev) * 0.1, torch.zeros(N * 32, device=dev),
         torch.randn(N * 64, 32, 5, 5, device=dev) * 0.02, torch.zeros(N * 64, device=dev),
         torch.randn(N, 1024, 512, device=dev) * 0.02, torch.zeros(N, 1, 512, device=dev),
         torch.randn(N, 512, 10, device=dev) * 0.02, torch.zeros(N, 1, 10, device=dev)]
    return [t.requires_grad_(True) for t in p]


def step(p, x, y, cl):
    h = F.conv2d(x, p[0], p[1], groups=N)
    h = F.relu(F.max_pool2d(h, 2))
    h = F.conv2d(h, p[2], p[3], groups=N)
    h = F.relu(F.max_pool2d(h, 2))                                  # [B, N*64, 4, 4]
    h = h.contiguous().view(B, N, 1024).transpose(0, 1)            # [N,B,1024]
    h = F.relu(torch.baddbmm(p[5], h, p[4]))
    logits = torch.baddbmm(p[7], h, p[6])                           # [N,B,10]
    loss = F.cross_entropy(logits.reshape(N * B, 10), y)
    return torch.autograd.grad(loss, p)


out = []
for name, bench, cl in [("default", False, False), ("cudnn_benchmark", True, False),
                        ("channels_last", False, True), ("benchmark+channels_last", True, True)]:
    torch.backends.cudnn.benchmark = bench
    p = params()
    x = torch.randn(B, N, 28, 28, device=dev)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
        p[0].data = p[0].data.contiguous(memory_format=torch.channels_last)
        p[2].data = p[2].data.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (N * B,), device=dev)
    for _ in range(3):
        step(p, x, y, cl)
    torch.cuda.synchronize()
    t = time.time()
    for _ in range(a.iters):
        step(p, x, y, cl)
    torch.cuda.synchronize()
    ms = (time.time() - t) / a.iters * 1e3
    print(json.dumps({"variant": name, "clients": N, "batch": B, "ms_fwd_bwd": round(ms, 3),
                      "tflops": round(N * B * 25.6e6 / (ms / 1e3) / 1e12, 2)}), flush=True)
