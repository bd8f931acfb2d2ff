"""The training step recorded once as a CUDA graph and replayed for every mini-batch.

On a GPU a mini-batch-10 step is a few dozen small kernels, and launching them one by
one from Python costs more than their work. `GraphStep` records the whole static step
(`step.FastStep` with static=True: the forward pass, the hand-written backward and the
fused SGD update of all K members) once with `torch.cuda.CUDAGraph`, then replays it:
one launch per mini-batch. It has the step's interface (`step(x, t, masks, cost_sum)`,
`set_eta`, `velocity`); `step.make_step` returns one on a CUDA device unless the
config's `cuda_graph` is false, which runs the same step op by op (eager).

A replay reads and writes exactly the memory it was recorded with, so
  - each mini-batch (images, one-hot targets, dropout keep-masks) is first copied into
    the step's own input buffers, made once (one device copy each);
  - every number the step reads lives in device memory written in place: eta/B, the L2
    decay and mu are the static step's tensors, which `set_eta` overwrites between epochs;
  - the step adds its members' costs into its own (K,) buffer, zeroed inside the graph,
    which is added to the caller's running sum after each replay: the same additions,
    so the cost sum agrees with the eager step's to rounding and the weights exactly.

Recording (the first call, and again if a mini-batch of another shape arrives): one
warm-up step on a side stream, as torch asks before a capture (cuBLAS and cuDNN set
themselves up lazily, which must not happen inside one), with the parameters and the
momentum saved before it and put back after it, so the warm-up changes nothing; then
the capture, which runs nothing; the first replay is the first step.

`record` is the one seam: how a callable becomes a replayable recording. It is
`cuda_record` on a GPU; the CPU tests pass one that replays by calling, which checks
the buffers, the cost sum and the warm-up's restore on any machine.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

Recorder = Callable[[Callable[[], None], torch.device], Callable[[], None]]


def cuda_record(fn: Callable[[], None], device: torch.device) -> Callable[[], None]:
    """Warm `fn` up once on a side stream, capture it as a CUDA graph; returns its replay.
    The warm-up runs `fn` for real: the caller saves and restores what it changes."""
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        fn()
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def call_record(fn: Callable[[], None], device: torch.device) -> Callable[[], None]:
    """A recorder for a device without graphs: the warm-up runs `fn` as `cuda_record`'s does,
    and the 'replay' calls it (the CPU tests of GraphStep's bookkeeping)."""
    fn()
    return fn


class GraphStep:
    """A static `step.FastStep` (static=True) recorded by `record` (default `cuda_record`) and
    replayed per mini-batch. (Typed by its attributes: step.py imports this module.)"""

    def __init__(self, step, record: Optional[Recorder] = None):
        if not step.static:
            raise ValueError("GraphStep needs the static step (make_step(..., kind=StepKind(static=True)))")
        self.step, self.record = step, record or cuda_record
        self.net, self.k = step.net, step.k
        self.cost = torch.zeros(step.k, device=step.device, dtype=step.dtype)  # this step's costs (K,)
        self.inputs: Optional[tuple] = None  # (x, t, masks): the buffers the recording reads
        self.replay: Optional[Callable[[], None]] = None
        self.recordings = 0  # 1 after a whole training: a second means a mini-batch changed shape

    @property
    def velocity(self) -> Optional[list[torch.Tensor]]:
        return self.step.velocity

    def set_eta(self, eta: list[float]) -> None:
        self.step.set_eta(eta)  # written into the tensors the recording reads

    def __call__(self, x: torch.Tensor, t: torch.Tensor, masks: Optional[dict], cost_sum: torch.Tensor) -> None:
        """The step's interface (step.FastStep.__call__): one SGD step of every member."""
        if self.replay is None or not self._fits(x, t, masks):
            self._record(x, t, masks)
        bx, bt, bmasks = self.inputs
        bx.copy_(x)
        bt.copy_(t)
        for i, mask in (masks or {}).items():
            bmasks[i].copy_(mask)
        self.replay()
        cost_sum.add_(self.cost)

    def _fits(self, x: torch.Tensor, t: torch.Tensor, masks: Optional[dict]) -> bool:
        bx, bt, bmasks = self.inputs
        if bx.shape != x.shape or bt.shape != t.shape or (masks is None) != (bmasks is None):
            return False
        return masks is None or (masks.keys() == bmasks.keys()
                                 and all(bmasks[i].shape == m.shape for i, m in masks.items()))

    def _record(self, x: torch.Tensor, t: torch.Tensor, masks: Optional[dict]) -> None:
        self.inputs = (x.clone(), t.clone(), {i: m.clone() for i, m in masks.items()} if masks else None)
        state = list(self.net.parameters()) + list(self.step.velocity or [])
        before = [p.detach().clone() for p in state]
        bx, bt, bmasks = self.inputs

        def one_step() -> None:
            self.cost.zero_()
            self.step(bx, bt, bmasks, self.cost)

        with torch.no_grad():
            self.replay = self.record(one_step, self.step.device)
            for p, saved in zip(state, before):  # the warm-up step is undone
                p.copy_(saved)
        self.recordings += 1
