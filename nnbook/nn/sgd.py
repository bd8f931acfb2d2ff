"""The update rule, and the L2 convention it applies: the one definition of both.

Plain SGD with L2 as a weight decay c on the weights only (biases are not
regularised, as in both book programs), each of the K members its own eta (and,
when sweep points share a stack, its own c and mu):
  plain (mu = 0):           w <- (1 - eta*c)*w - eta*g,        b <- b - eta*g;
  momentum (chapter 3):     v <- mu*v - eta*(g + c*w),  w <- w + v   (c = 0 for biases).
g is the gradient of the cost without its L2 term; c comes from `l2_decay`.

`SGD` is used three ways, all through the methods below:
  - by the hand-written step (`step.FastStep`), whose gradients arrive already
    multiplied by eta (G = eta*g), a fully connected weight's as the two factors
    of a matrix product (`matmul`: one fused baddbmm_, no gradient tensor);
  - by the autograd reference step and by chapter 5's full-batch descent
    (`measure.gradient_trajectory`), from plain gradients (`update`).
The momentum buffers are created here, and only here, when none are given
(a resumed run hands in its saved ones).
"""

from __future__ import annotations

from typing import Optional

import torch

from nnbook.config import Config


def l2_decay(config: Config, n_train: int) -> float:
    """The weight-decay coefficient c in w <- w - eta*(dC0/dw + c*w), i.e. the
    gradient of the L2 term. network3: 0.5*lmbda*sum(w^2)/num_training_batches,
    so c = lmbda/num_batches (0.1 -> 2e-5 at 5,000 batches); network2:
    lmbda/(2n)*sum(w^2), so c = lmbda/n (decay factor 1 - eta*lmbda/n)."""
    if config.l2_scaling == "num_batches":
        return config.lmbda / (n_train // config.mini_batch_size)
    return config.lmbda / n_train


class SGD:
    """The update of `params` (K axis first), of which `weights` carry the L2 decay c.

    With G = eta_k*g and decay_k = 1 - eta_k*c (1 for biases), the rule above is
      plain:     p <- decay_k*p - G;
      momentum:  v <- mu*v - G - (1 - decay_k)*p,  p <- p + v.
    When every member has the same decay (one eta), it is a Python float and
    fuses into the matrix product as baddbmm's beta; otherwise a (K, 1, ...)
    tensor applied by one extra multiply per weight."""

    def __init__(self, params: list[torch.Tensor], weights: list[torch.Tensor], c: float | list[float],
                 mu: float | list[float] = 0.0, velocity: Optional[list[torch.Tensor]] = None,
                 static: bool = False):
        self.params, self.static = params, static
        self.k, self.device, self.dtype = params[0].shape[0], params[0].device, params[0].dtype
        # c and mu: one value for every member, or one each (sweep points packed into one stack).
        self.c = list(c) if isinstance(c, (list, tuple)) else [c] * self.k
        mus = list(mu) if isinstance(mu, (list, tuple)) else [mu] * self.k
        self.weight_ids = {id(w) for w in weights}
        momentum = any(m > 0 for m in mus)
        if momentum and velocity is None:
            velocity = [torch.zeros_like(p) for p in params]
        # velocity: shaped as params, updated in place (the training state checkpoints it).
        self.velocity = velocity if momentum else None
        self._v = None if self.velocity is None else {id(p): v for p, v in zip(params, self.velocity)}
        # mu: a Python float when the members share it (baddbmm's beta), else a (K,) tensor; always a
        # tensor when static (ready for graph capture: every number the step reads lives on the device).
        per_member = static or len(set(mus)) > 1
        self.mu = torch.tensor(mus, device=self.device, dtype=self.dtype) if per_member else mus[0]
        self.decay_t = torch.ones(self.k, device=self.device, dtype=self.dtype) if static else None
        self._eta_t = None
        self.set_eta([0.0] * self.k)

    def set_eta(self, eta: list[float]) -> None:
        """The members' learning rates (between epochs; never read back from the device). Static:
        written into the tensors the step already reads, which are never made anew."""
        self.eta = list(eta)
        decays = [1.0 - e * c for e, c in zip(eta, self.c)]
        if self.static:
            self.uniform, self.beta = False, 1.0
            self.decay_t.copy_(torch.tensor(decays, dtype=self.dtype))
            if self._eta_t is not None:
                self._eta_t.copy_(torch.tensor(self.eta, dtype=self.dtype))
            return
        self._eta_t = None  # the (K,) tensor `update` needs, made on its first call
        self.uniform = len(set(decays)) == 1
        self.beta = decays[0] if self.uniform else 1.0
        self.decay_t = None if self.uniform else torch.tensor(decays, device=self.device, dtype=self.dtype)

    def _per_member(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """t (K,) viewed to broadcast over `like` (K, ...)."""
        return t.view(-1, *[1] * (like.dim() - 1))

    @property
    def _scalar_mu(self) -> float:
        """baddbmm's beta for the velocity: mu, or 1 once a per-member mu has been applied."""
        return 1.0 if isinstance(self.mu, torch.Tensor) else self.mu

    def _mu_like(self, v: torch.Tensor) -> float | torch.Tensor:
        return self._per_member(self.mu, v) if isinstance(self.mu, torch.Tensor) else self.mu

    def _decay(self, w: torch.Tensor) -> None:
        """w <- decay*w (plain SGD)."""
        if self.decay_t is not None:
            w.mul_(self._per_member(self.decay_t, w))
        elif self.beta != 1.0:
            w.mul_(self.beta)

    def _momentum(self, p: torch.Tensor, v: torch.Tensor, weight: bool) -> None:
        """v <- v - (1 - decay)*p for weights, then p <- p + v."""
        if weight and self.decay_t is not None:
            v.addcmul_(p, self._per_member(self.decay_t, p) - 1.0)
        elif weight and self.beta != 1.0:
            v.add_(p, alpha=self.beta - 1.0)
        p.add_(v)

    def matmul(self, w: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
        """A weight w (K, n, m) whose eta-scaled gradient is a @ b; a (K, n, B) (or (n, B)
        shared by the members), b (K, B, m): the product is never materialised."""
        if a.dim() == 2:
            a = a.expand(self.k, *a.shape)
        if self._v is not None:
            v = self._v[id(w)]
            if isinstance(self.mu, torch.Tensor):
                v.mul_(self._per_member(self.mu, v))
            v.baddbmm_(a, b, beta=self._scalar_mu, alpha=-1.0)
            self._momentum(w, v, weight=True)
            return
        if self.decay_t is not None:
            self._decay(w)
        w.baddbmm_(a, b, beta=self.beta, alpha=-1.0)

    def weight(self, w: torch.Tensor, g: torch.Tensor) -> None:
        """A weight whose eta-scaled gradient g is a tensor (the conv filters)."""
        if self._v is not None:
            v = self._v[id(w)]
            v.mul_(self._mu_like(v)).sub_(g)
            self._momentum(w, v, weight=True)
            return
        self._decay(w)
        w.sub_(g)

    def bias(self, b: torch.Tensor, g: torch.Tensor) -> None:
        """A bias, from its eta-scaled gradient g: not regularised."""
        if self._v is not None:
            v = self._v[id(b)]
            v.mul_(self._mu_like(v)).sub_(g)
            b.add_(v)
            return
        b.sub_(g)

    def update(self, grads: list[torch.Tensor]) -> None:
        """Every parameter from its plain gradient dC0/dp (shaped as params), in place;
        call under torch.no_grad()."""
        if self._eta_t is None:
            self._eta_t = torch.tensor(self.eta, device=self.device, dtype=self.dtype)
        for p, g in zip(self.params, grads):
            scaled = g * self._per_member(self._eta_t, p)
            if id(p) in self.weight_ids:
                self.weight(p, scaled)
            else:
                self.bias(p, scaled)
