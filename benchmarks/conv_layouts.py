"""Which way of computing a stacked conv layer is fastest at mini-batch 10 (`make bench-conv`).

For the two conv layers of ch6_dbl_conv_relu (1 -> 20 and 20 -> 40 channels, 5x5, on
28x28 and 12x12 images) stacked K = 1..4 members as nnbook stacks them (member k owns
channels k*C..(k+1)*C-1; the first layer shares its input, the second is a K-group
convolution), this times the forward convolution and its backward (weight, bias and,
for the second layer, input gradients) computed
  - oneDNN, channels_last  (what nnbook's step runs),
  - oneDNN, NCHW contiguous,
  - im2col: unfold + a batched matrix product (and fold for the input gradient),
and the max-pool forward and backward in both layouts. Medians of --rounds timings of
--steps calls, microseconds per call. Nothing else may run meanwhile.

    python benchmarks/conv_layouts.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

aten = torch.ops.aten


def timed(fn, steps: int, rounds: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        times.append((time.perf_counter() - start) / steps)
    return 1e6 * statistics.median(times)


def conv_cases(k: int, first: bool, batch: int = 10):
    g = torch.Generator().manual_seed(0)
    c_in, c_out, side = (1, 20, 28) if first else (20, 40, 12)
    groups = 1 if first else k
    in_channels = c_in if first else k * c_in
    h = torch.randn(batch, in_channels, side, side, generator=g)
    w = torch.randn(k * c_out, c_in, 5, 5, generator=g) * 0.1
    b = torch.randn(k * c_out, generator=g)
    out_side = side - 4
    grad = torch.randn(batch, k * c_out, out_side, out_side, generator=g)
    need_input = not first

    def onednn(layout):
        hh = h.contiguous(memory_format=layout)
        if first and layout == torch.channels_last:  # one channel: nnbook's own channels_last strides
            hh = h.contiguous().as_strided(h.shape, (side * side, 1, side, 1))
        gg = grad.contiguous(memory_format=layout)

        def forward():
            F.conv2d(hh, w, b, groups=groups)

        def backward():
            aten.convolution_backward(gg, hh, w, [w.shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], groups,
                                      [need_input, True, True])
        return forward, backward

    def im2col():
        # cols: (B, groups, C_in*25, L) -> per group a matmul with (C_out, C_in*25)
        wg = w.view(groups, -1, c_in * 25)  # (G, k*c_out/G, C_in*25)
        gflat = grad.view(batch, groups, -1, out_side * out_side)  # (B, G, Cout_g, L)

        def cols():
            return F.unfold(h, 5).view(batch, groups, c_in * 25, -1)  # (B, G, Cin*25, L)

        def forward():
            c = cols()
            torch.matmul(wg, c).add_(b.view(1, groups, -1, 1))

        def backward():
            c = cols()
            # weight gradient: sum over images of grad @ cols^T, as one bmm over (G) with B*L folded in
            gw = torch.matmul(gflat.permute(1, 2, 0, 3).reshape(groups, -1, batch * out_side ** 2),
                              c.permute(1, 0, 3, 2).reshape(groups, batch * out_side ** 2, -1))
            gflat.sum((0, 3))
            if need_input:
                gcols = torch.matmul(wg.transpose(1, 2), gflat)  # (B, G, Cin*25, L)
                F.fold(gcols.reshape(batch, -1, out_side ** 2), (side, side), 5)
            return gw
        return forward, backward

    return {"oneDNN channels_last": onednn(torch.channels_last), "oneDNN NCHW": onednn(torch.contiguous_format),
            "im2col + matmul": im2col()}


def pool_cases(k: int, batch: int = 10):
    g = torch.Generator().manual_seed(1)
    out = {}
    for name, layout in (("channels_last", torch.channels_last), ("NCHW", torch.contiguous_format)):
        z = torch.randn(batch, k * 20, 24, 24, generator=g).contiguous(memory_format=layout)
        pooled, where = F.max_pool2d(z, 2, return_indices=True)
        grad = torch.randn_like(pooled)

        def forward(z=z):
            F.max_pool2d(z, 2, return_indices=True)

        def backward(z=z, grad=grad, where=where):
            aten.max_pool2d_with_indices_backward(grad, z, [2, 2], [2, 2], [0, 0], [1, 1], False, where)
        out[f"max-pool {name}"] = (forward, backward)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; microseconds per call (forward / backward)")
    with torch.no_grad():
        for k in args.ks:
            print(f"\nK={k}")
            for label, cases in (("conv1 1->20 @28", conv_cases(k, True)), ("conv2 20->40 @12", conv_cases(k, False)),
                                 ("pool1 20@24", pool_cases(k))):
                for name, (fwd, bwd) in cases.items():
                    print(f"  {label:17s} {name:22s} {timed(fwd, args.steps, args.rounds):8.1f} / "
                          f"{timed(bwd, args.steps, args.rounds):8.1f}")


if __name__ == "__main__":
    main()
