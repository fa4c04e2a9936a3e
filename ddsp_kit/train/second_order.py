r"""Second-order fitting for models with few parameters: damped Newton with conjugate gradients.

For a gray-box model with tens of parameters (an EQ, a compressor, the LA-2A
sound-matching setting), Newton's method reaches a minimum in tens of steps
where Adam takes thousands. :class:`NewtonCG` never forms the Hessian: it
solves the damped Newton system

.. math::
    (H + \lambda I)\, d = -g

by conjugate gradients, each iteration one Hessian-vector product
:math:`Hv = \nabla(g^\top v)` (a double backward through the model, which the
recurrence kernels support: their backward is the same differentiable scan).
The damping :math:`\lambda` follows Levenberg-Marquardt's trust-region rule:
the step is tried, the actual decrease is compared with the quadratic model's
prediction :math:`-(g^\top d + \tfrac12 d^\top H d)`, and :math:`\lambda`
shrinks when the model predicted well (ratio > 3/4) and grows when it did not
(ratio < 1/4); a step that raises the loss is undone and retried with more
damping. Negative curvature met inside CG ends it with the direction found so
far (Steihaug), so indefinite Hessians away from the minimum are safe.

``closure`` differs from ``torch.optim``'s: it returns the loss with its graph
and does **not** call ``backward`` (the optimizer takes the gradients itself,
with ``create_graph=True``).
"""

from typing import Callable, Iterable, List, Tuple

import torch

__all__ = ["NewtonCG"]

Tensor = torch.Tensor


def _flat(tensors: Iterable[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


class NewtonCG(torch.optim.Optimizer):
    r"""Damped (Levenberg-Marquardt) Newton steps solved by conjugate gradients on Hessian-vector products.

    Args:
        params: the parameters (all of them take part in one Newton system).
        damping: initial :math:`\lambda`, relative to the gradient's RMS.
        cg_iterations: most CG iterations per step (at most the parameter count is needed).
        cg_tolerance: CG stops when the residual falls below this fraction of ``|g|``.
        max_tries: damped retries of a step that does not lower the loss.

    ``step(closure)`` returns the loss before the step; ``state["damping"]``,
    ``state["accepted"]`` and ``state["ratio"]`` describe the last step.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
        >>> target = torch.tensor([1.0, 0.5], dtype=torch.float64)
        >>> opt = NewtonCG([w])
        >>> losses = [opt.step(lambda: ((w.exp() - target.exp()) ** 2).sum()).item() for _ in range(10)]
        >>> [f"{loss:.0e}" for loss in losses[-4:]]  # quadratic convergence
        ['3e-03', '3e-06', '3e-12', '1e-22']
    """

    def __init__(self, params, damping: float = 1e-3, cg_iterations: int = 50, cg_tolerance: float = 1e-6, max_tries: int = 8):
        if not damping > 0 or not cg_iterations >= 1 or not cg_tolerance > 0 or not max_tries >= 1:
            raise ValueError("damping and cg_tolerance must be > 0, cg_iterations and max_tries >= 1")
        super().__init__(params, dict(damping=damping, cg_iterations=cg_iterations, cg_tolerance=cg_tolerance, max_tries=max_tries))
        if len(self.param_groups) != 1:
            raise ValueError("NewtonCG solves one system: give it one parameter group")
        self.state["damping"] = None

    def _params(self) -> List[Tensor]:
        return [p for p in self.param_groups[0]["params"] if p.requires_grad]

    def _assign(self, params: List[Tensor], flat: Tensor) -> None:
        # Through .data: the Hessian-vector graph saved the parameters' tensors, and a rejected trial point is
        # undone to the very same values before that graph is used again, so autograd's version check must not fire.
        offset = 0
        for p in params:
            p.data.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()

    @staticmethod
    def _solve(hvp: Callable[[Tensor], Tensor], g: Tensor, damping: float, iterations: int, tolerance: float) -> Tuple[Tensor, Tensor]:
        """CG on ``(H + damping·I) d = -g``; returns ``d`` and ``H d`` (without the damping term)."""
        d, hd = torch.zeros_like(g), torch.zeros_like(g)
        r = -g.clone()
        p, hp_undamped = r.clone(), None
        rr = r @ r
        stop = (tolerance * g.norm()) ** 2
        for _ in range(iterations if rr > 0 else 0):  # a zero gradient: no step
            hp_undamped = hvp(p)
            curvature = p @ hp_undamped + damping * (p @ p)
            if curvature <= 0:  # negative curvature: keep what we have (or the steepest descent at the start)
                if not d.any():
                    d, hd = r, hvp(r)
                break
            alpha = rr / curvature
            d, hd = d + alpha * p, hd + alpha * hp_undamped
            r = r - alpha * (hp_undamped + damping * p)
            rr_next = r @ r
            if rr_next <= stop:
                break
            p = r + (rr_next / rr) * p
            rr = rr_next
        return d, hd

    def step(self, closure: Callable[[], Tensor]) -> Tensor:  # type: ignore[override]
        group = self.param_groups[0]
        params = self._params()
        with torch.enable_grad():
            loss = closure()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"NewtonCG: the loss is {loss.item()} at the current parameters")
            grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
            g = _flat(grads)

            def hvp(v: Tensor) -> Tensor:
                parts, offset = [], 0
                for p in params:
                    parts.append(v[offset:offset + p.numel()].view_as(p))
                    offset += p.numel()
                products = torch.autograd.grad(grads, params, grad_outputs=parts, retain_graph=True, allow_unused=True)
                return _flat([torch.zeros_like(p) if h is None else h for p, h in zip(params, products)]).detach()

            g_detached = g.detach()
            scale = g_detached.pow(2).mean().sqrt().clamp_min(torch.finfo(g.dtype).tiny).item()
            damping = self.state["damping"] if self.state["damping"] is not None else group["damping"] * scale
            start = _flat([p.detach() for p in params]).clone()
            accepted, ratio = False, float("nan")
            for _ in range(group["max_tries"]):
                d, hd = self._solve(hvp, g_detached, damping, group["cg_iterations"], group["cg_tolerance"])
                predicted = -(g_detached @ d + 0.5 * (d @ hd)).item()
                if not predicted > 0:  # at a stationary point (or rounding): nothing to gain
                    break
                self._assign(params, start + d)
                with torch.no_grad():
                    trial = closure().item()
                actual = loss.item() - trial
                ratio = actual / predicted if predicted > 0 else float("nan")
                if actual > 0:  # lower (NaN compares False): keep the step
                    accepted = True
                    damping = damping / 3 if ratio > 0.75 else damping * 2 if ratio < 0.25 else damping
                    break
                self._assign(params, start)
                damping = min(damping * 4, 1e10 * scale)  # bounded: a stuck step must not overflow it
        self.state.update(damping=damping, accepted=accepted, ratio=ratio)
        return loss.detach()
