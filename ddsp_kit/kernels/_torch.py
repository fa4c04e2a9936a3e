"""Pure-torch backend: chunked scans that run on any device.

``scan`` solves ``h[t] = a[t] h[t-1] + x[t]`` in three steps (scan, then
propagate):

1. cut time into chunks of ``CHUNK`` samples and solve each chunk from a zero
   state, all chunks at once. With a time-varying ``a`` this is a Hillis-Steele
   scan (``log2(CHUNK)`` vectorised steps of ``h[i] += A[i] h[i-d]``,
   ``A[i] *= A[i-d]``); with ``a`` constant over time it is one matrix product
   with the lower-triangular Toeplitz matrix ``W[i, j] = a^(i-j)``;
2. the state entering each chunk obeys the same recurrence, one step per chunk
   with coefficient ``prod(a)`` over the chunk: solve it recursively;
3. add each chunk's entering state times the running product of ``a``.

No logarithms and no divisions, so zeros in ``a`` and complex ``a`` are exact.

``allpole`` solves the order-``M`` direct-form recurrence. Products of
companion matrices are ill-conditioned, so instead of a matrix scan it runs
the filter itself: all chunks step in parallel through their ``C`` samples,
once to get each chunk's zero-state end state and its state-transition matrix
(the responses to the ``M`` unit initial states), then, once the entering
states are chained across chunks, a second time to produce the output.
It computes in double precision.
"""

import math

import torch

CHUNK = 128


def _chunk(t: torch.Tensor, size: int, steps: int) -> torch.Tensor:
    """Zero-pad the time axis (last) to ``steps`` samples and fold it into ``(..., K, size)``."""
    t = torch.nn.functional.pad(t, (0, steps - t.shape[-1]))
    return t.unflatten(-1, (steps // size, size))


def _local_varying(a: torch.Tensor, x: torch.Tensor):
    """Zero-state scan of each chunk ``(..., K, C)``; returns ``(h, running product of a)``."""
    h, prod = x, a
    d = 1
    while d < x.shape[-1]:
        h = torch.cat([h[..., :d], h[..., d:] + prod[..., d:] * h[..., :-d]], -1)
        prod = torch.cat([prod[..., :d], prod[..., d:] * prod[..., :-d]], -1)
        d *= 2
    return h, prod


def _local_constant(a: torch.Tensor, x: torch.Tensor):
    """Zero-state scan of each chunk ``(..., K, C)`` for ``a`` ``(..., 1)`` constant
    in time: one product with the Toeplitz matrix ``W[i, j] = a^(i-j)``."""
    size = x.shape[-1]
    powers = torch.cat([torch.ones_like(a), a.expand(*a.shape[:-1], size).cumprod(-1)], -1)
    lag = torch.arange(size, device=x.device)
    lag = lag[:, None] - lag[None, :]
    toeplitz = powers[..., lag.clamp(min=0)] * (lag >= 0)
    return x @ toeplitz.transpose(-1, -2), powers[..., 1:].unsqueeze(-2)


def scan(x: torch.Tensor, a: torch.Tensor, h0: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
    """``h[t] = a[t] h[t-1] + x[t]``; ``a`` is ``(..., 1 or T)`` with as many
    dims as ``x`` ``(..., T)`` and broadcastable to it, ``h0`` is ``x.shape[:-1]``.
    With ``adjoint``: ``h[t] = conj(a[t+1]) h[t+1] + x[t]`` backwards in time
    from ``h[T-1] = x[T-1]`` (``h0`` unused)."""
    if adjoint:
        # In reversed time the coefficient at step s is conj(a[T-s]); step 0 starts from zero.
        a = a.conj() if a.shape[-1] == 1 else torch.cat([torch.zeros_like(a[..., :1]), a.conj().flip(-1)[..., :-1]], -1)
        return scan(x.flip(-1), a, torch.zeros_like(h0)).flip(-1)
    steps = x.shape[-1]
    size = min(CHUNK, steps)
    padded = math.ceil(steps / size) * size
    xc = _chunk(x, size, padded)
    if a.shape[-1] == 1:
        h, prod = _local_constant(a, xc)
    else:
        # Padding a with zeros is harmless: padded samples are cut off.
        h, prod = _local_varying(_chunk(a, size, padded), xc)
    entering = h0.unsqueeze(-1)
    if h.shape[-2] > 1:
        # The state entering chunk k leaves chunk k-1: the same recurrence, one step a chunk.
        ends = scan(h[..., -1], prod[..., -1], h0)
        entering = torch.cat([entering.expand(*ends.shape[:-1], 1), ends[..., :-1]], -1)
    h = h + prod * entering.unsqueeze(-1)
    return h.flatten(-2)[..., :steps]


def modal(x: torch.Tensor, b: torch.Tensor, poles: torch.Tensor, reverse: bool) -> torch.Tensor:
    """Real part of ``x`` ``(..., T)`` through the FIR ``b`` ``(..., nb)`` and the
    one-poles ``poles`` ``(..., K)`` in cascade (one complex scan per pole,
    complex64 for float32 signals); ``reverse`` runs it backwards in time."""
    if reverse:
        return modal(x.flip(-1), b, poles, False).flip(-1)
    steps, taps = x.shape[-1], b.shape[-1]
    padded = torch.nn.functional.pad(x, (taps - 1, 0))
    v = sum(b[..., k, None].to(x.dtype) * padded[..., taps - 1 - k: taps - 1 - k + steps] for k in range(taps))
    if poles.shape[-1] == 0:
        return v
    h = v.to(torch.complex64 if x.dtype == torch.float32 else torch.complex128)
    poles = poles.to(h.dtype)
    h0 = h.new_zeros(h.shape[:-1])
    for k in range(poles.shape[-1]):
        h = scan(h, poles[..., k:k + 1], h0)
    return h.real.to(x.dtype)


def section(v: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, s: torch.Tensor):
    """Two complex one-poles in cascade on real ``v``; returns ``(Re h2, h1, h2)``."""
    h1 = scan(v.to(s.dtype), p1, s[..., 0])
    h2 = scan(h1, p2, s[..., 1])
    return h2.real.to(v.dtype), h1, h2


def allpole(x: torch.Tensor, a: torch.Tensor, zi: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
    """``y[t] = x[t] - sum_k a[t, k] y[t-1-k]``; ``a`` is ``(..., 1 or T, M)``,
    ``zi`` ``(..., M)`` holds ``y[-1], ..., y[-M]``. With ``adjoint``:
    ``y[t] = x[t] - sum_k a[t+1+k, k] y[t+1+k]`` backwards in time from zero."""
    if adjoint:
        steps, order = x.shape[-1], a.shape[-1]
        if a.shape[-2] > 1:
            # In reversed time s the k-th coefficient is a_k[T-1-s+k]: flip(a_k) delayed by k.
            flipped = a.flip(-2)
            a = torch.stack(
                [torch.nn.functional.pad(flipped[..., k - 1], (k, 0))[..., :steps] for k in range(1, order + 1)], -1
            )
        return allpole(x.flip(-1), a, torch.zeros_like(zi)).flip(-1)
    out_dtype = x.dtype
    x, a, zi = (t.to(torch.float64) for t in (x, a, zi))
    steps, order = x.shape[-1], a.shape[-1]
    batch = torch.broadcast_shapes(x.shape[:-1], a.shape[:-2], zi.shape[:-1])
    size = max(8, math.ceil(math.sqrt(steps)))
    padded = math.ceil(steps / size) * size
    chunks = padded // size
    xc = _chunk(x, size, padded)  # (..., K, C)
    ac = a.unsqueeze(-3) if a.shape[-2] == 1 else torch.nn.functional.pad(
        a, (0, 0, 0, padded - steps)).unflatten(-2, (chunks, size))  # (..., K or 1, C or 1, M)

    def run(state, forced):
        """Step all chunks through their samples; ``state`` is ``(..., K, M, P)``
        (P parallel problems), ``forced`` says which problems see the input."""
        outputs = []
        for t in range(size):
            coef = ac[..., t if ac.shape[-2] > 1 else 0, :]  # (..., K|1, M)
            y = forced * xc[..., t, None] - torch.einsum("...m,...mp->...p", coef, state)
            state = torch.cat([y.unsqueeze(-2), state[..., :-1, :]], -2)
            outputs.append(y)
        return state, torch.stack(outputs, -2)  # (..., K, C, P)

    # Pass 1: problem 0 is the zero-state response to x, problems 1..M the
    # zero-input responses to the unit initial states (the transition matrix).
    eye = torch.eye(order, dtype=x.dtype, device=x.device)
    init = torch.cat([torch.zeros(order, 1, dtype=x.dtype, device=x.device), eye], -1)
    forced = torch.zeros(order + 1, dtype=x.dtype, device=x.device)
    forced[0] = 1.0
    end, _ = run(init.expand(*batch, chunks, order, order + 1), forced)
    # Chain the states entering each chunk: s_k = Phi_k s_{k-1} + f_k.
    entering = [zi.expand(*batch, order)]
    for k in range(chunks - 1):
        s = entering[-1]
        entering.append(end[..., k, :, 0] + torch.einsum("...ij,...j->...i", end[..., k, :, 1:], s))
    # Pass 2: the true response of every chunk from its entering state.
    _, y = run(torch.stack(entering, -2).unsqueeze(-1), forced[:1])
    return y.squeeze(-1).flatten(-2)[..., :steps].to(out_dtype)


def matrix(x: torch.Tensor, a: torch.Tensor, h0: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
    """``h[t] = A[t] h[t-1] + x[t]`` on ``x`` ``(..., T, N)``, ``a`` ``(..., 1 or T, N, N)``,
    ``h0`` ``(..., N)``: the chunked scan of :func:`scan` with matrix products
    (each chunk a Hillis-Steele scan of ``(A, h)`` pairs, then the chunks'
    entering states by the same recurrence). With ``adjoint``:
    ``h[t] = A[t+1]^T h[t+1] + x[t]`` backwards in time from zero."""
    if adjoint:
        a = a.transpose(-1, -2)
        if a.shape[-3] > 1:  # reversed time s uses A[T-s]^T; step 0 starts from zero
            a = torch.cat([torch.zeros_like(a[..., :1, :, :]), a.flip(-3)[..., :-1, :, :]], -3)
        return matrix(x.flip(-2), a, torch.zeros_like(h0)).flip(-2)
    steps, n = x.shape[-2:]
    size = min(CHUNK, steps)
    padded = math.ceil(steps / size) * size
    batch = torch.broadcast_shapes(x.shape[:-2], a.shape[:-3])
    h = _chunk(x.transpose(-1, -2), size, padded).permute(*range(x.dim() - 2), -2, -1, -3)  # (..., K, C, N)
    prod = _chunk(a.expand(*batch, steps, n, n).flatten(-2).transpose(-1, -2), size, padded)
    prod = prod.permute(*range(len(batch)), -2, -1, -3).unflatten(-1, (n, n))  # (..., K, C, N, N)
    d = 1
    while d < size:
        h = torch.cat([h[..., :d, :], h[..., d:, :] + (prod[..., d:, :, :] @ h[..., :-d, :, None]).squeeze(-1)], -2)
        prod = torch.cat([prod[..., :d, :, :], prod[..., d:, :, :] @ prod[..., :-d, :, :]], -3)
        d *= 2
    entering = h0.expand(*batch, n).unsqueeze(-2)
    if h.shape[-3] > 1:
        ends = matrix(h[..., -1, :], prod[..., -1, :, :], h0)
        entering = torch.cat([entering.expand(*ends.shape[:-2], 1, n), ends[..., :-1, :]], -2)
    h = h + (prod @ entering[..., :, None, :, None]).squeeze(-1)
    return h.flatten(-3, -2)[..., :steps, :]


def ballistics(x: torch.Tensor, up: torch.Tensor, down: torch.Tensor, y0: torch.Tensor):
    """Branching one-pole ``y[t] = y[t-1] + alpha[t] (x[t] - y[t-1])`` with
    ``alpha = up`` where ``x[t] > y[t-1]`` (``rising``) else ``down``; returns ``(y, rising)``.

    Solved as a fixed point of linear scans: guess the branches, run the
    (then linear) one-pole, re-derive the branches from its output, repeat
    until they stop changing. Each round makes at least the first wrong branch
    right and keeps every earlier one, so it ends with the exact sequential
    answer; audio envelopes settle in a few rounds.
    """
    previous = torch.cat([y0.unsqueeze(-1), x[..., :-1]], -1)
    rising = x > previous
    while True:
        alpha = torch.where(rising, up, down).to(x.dtype)
        y = scan(alpha * x, 1 - alpha, y0.to(x.dtype))
        update = x > torch.cat([y0.unsqueeze(-1).to(x.dtype), y[..., :-1]], -1)
        if bool((update == rising).all()):
            return y, rising
        rising = update
