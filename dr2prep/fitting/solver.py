"""Gauss-Newton machinery of the fit: Jacobians, Levenberg-Marquardt, block-tridiagonal solves.

The fit's variables differ in scale by orders of magnitude (a finger joint moves
one keypoint a few millimetres, the translation moves all of them), which stalls
first-order methods (L-BFGS needed hundreds of iterations a frame). Gauss-Newton
steps are invariant to that scaling and converge in a handful of iterations; what
they need is each frame's Jacobian, which the kinematic tree's sparsity makes cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.autograd.forward_ad as forward_ad

PATTERN_OFFSETS = (0.0, 4.0, -4.0)  # radians: every hinge prior active on one side or the other
# Levenberg-Marquardt's schedule, for every fit (the reference frames and the clip's runs):
INITIAL_DAMPING = 1e-3  # times each variable's curvature (the Hessian's diagonal)
DAMPING_DOWN = 3.0  # after a full step that lowered the cost
DAMPING_UP = 10.0  # after a solve whose step (even shortened) did not
MIN_DAMPING = 1e-7
MAX_DAMPING = 1e8
DAMPING_TRIES = 5  # solves per iteration before giving up
STEP_FRACTIONS = (1.0, 0.5, 0.25)  # tried in turn along a step before re-solving with more damping
MIN_SCALE = 1e-6  # the least curvature a variable is damped by
RELATIVE_TOLERANCE = 1e-3  # stop when an iteration lowers the cost by less than this fraction


def jacobian(residual_fn: Callable[[torch.Tensor], torch.Tensor], point: torch.Tensor) -> torch.Tensor:
    """(R, P) Jacobian of residual_fn (B, P) -> (B, R) at one point (P,), by forward-mode AD.

    The point is repeated P times, each copy carrying one unit tangent, so the
    whole Jacobian costs one batched forward pass.
    """
    size = point.shape[0]
    with torch.no_grad(), forward_ad.dual_level():
        primal = point.detach().reshape(1, size).expand(size, size).contiguous()
        tangent = torch.eye(size, dtype=point.dtype, device=point.device)
        out = residual_fn(forward_ad.make_dual(primal, tangent))
        return forward_ad.unpack_dual(out).tangent.transpose(0, 1).contiguous()


def block_jacobians(residual_fn, frames: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
    """(K, R, P + S) Jacobian of each frame's residuals w.r.t. its own variables and the shared ones.

    residual_fn(frame_vars (N, P), shared (N, S), rows (N,)) -> (N, R), row i belonging to
    frame rows[i]. One batched forward-mode pass over K·(P + S) unit tangents.
    """
    count, size = frames.shape
    width = size + shared.shape[0]
    with torch.no_grad(), forward_ad.dual_level():
        primal = torch.cat([frames, shared.expand(count, -1)], dim=1).repeat_interleave(width, dim=0)
        tangent = torch.eye(width, dtype=frames.dtype, device=frames.device).repeat(count, 1)
        rows = torch.arange(count, device=frames.device).repeat_interleave(width)
        dual = forward_ad.make_dual(primal, tangent)
        out = forward_ad.unpack_dual(residual_fn(dual[:, :size], dual[:, size:], rows)).tangent
    return out.reshape(count, width, -1).transpose(1, 2)


class DenseSystem:
    """Normal equations H δ = −g solved densely: the reference frames, whose variables all share
    the orientation and shape (a block-arrow Hessian small enough to solve whole)."""

    def __init__(self, hessian: torch.Tensor, gradient: torch.Tensor):
        self.hessian, self.gradient = hessian, gradient
        self.scale = hessian.diagonal().clamp(min=MIN_SCALE)

    def solve(self, damping: float) -> torch.Tensor:
        return torch.linalg.solve(self.hessian + damping * torch.diag(self.scale), -self.gradient)


class BlockTridiagonalSystem:
    """Normal equations of a run of frames tied to their neighbours by the motion loss: blocks
    diagonal (n, P, P) on the diagonal, −diag(coupling) (P,) between neighbours, gradient (n, P)."""

    def __init__(self, diagonal: torch.Tensor, coupling: torch.Tensor, gradient: torch.Tensor,
                 scale: torch.Tensor | None = None):
        self.diagonal, self.coupling, self.gradient = diagonal, coupling, gradient
        # Damp by the data's curvature, not the motion tie's (scale: (n, P), default the diagonal's).
        self.scale = (diagonal.diagonal(dim1=1, dim2=2) if scale is None else scale).clamp(min=MIN_SCALE)

    def solve(self, damping: float) -> torch.Tensor:
        return solve_block_tridiagonal(self.diagonal + torch.diag_embed(damping * self.scale), self.coupling,
                                       -self.gradient)


def levenberg_marquardt(
    cost_fn: Callable[[Any], float],
    linearise: Callable[[Any], DenseSystem | BlockTridiagonalSystem],
    move: Callable[[Any, torch.Tensor, float], Any],
    x: Any,
    iterations: int,
    relative_tolerance: float = RELATIVE_TOLERANCE,
) -> tuple[Any, float]:
    """Minimise cost_fn(x) with Levenberg-Marquardt; returns the best x and its cost.

    The one place of the damping schedule, the acceptance test and the backtracking. The
    problem supplies: linearise(x), its normal equations at x as a system whose
    .solve(damping) gives a step (dense or block-tridiagonal: the linear solve is pluggable);
    move(x, step, fraction), the point x + fraction·step within the variables' bounds.
    A step is kept when it lowers the cost; along a rejected step shorter fractions are tried
    before re-solving with more damping (a solve costs more than a few evaluations of the cost).
    Stops after `iterations`, when an iteration lowers the cost by less than
    `relative_tolerance` of it, or when no damping finds a lower cost.
    """
    cost = float(cost_fn(x))
    damping = INITIAL_DAMPING
    for _ in range(iterations):
        system = linearise(x)
        decrease = 0.0
        for _ in range(DAMPING_TRIES):
            step = system.solve(damping)
            for fraction in STEP_FRACTIONS:
                candidate = move(x, step, fraction)
                new_cost = float(cost_fn(candidate))
                if np.isfinite(new_cost) and new_cost < cost:
                    decrease = (cost - new_cost) / max(cost, 1e-12)
                    x, cost = candidate, new_cost
                    break
            if decrease > 0 and fraction == 1.0:
                damping = max(damping / DAMPING_DOWN, MIN_DAMPING)
            else:
                damping = min(damping * DAMPING_UP, MAX_DAMPING)
            if decrease > 0:
                break
        if decrease < relative_tolerance:
            break
    return x, cost


def arrow_normal_equations(jac: torch.Tensor, residual: torch.Tensor, size: int) -> DenseSystem:
    """Dense JᵀJ and Jᵀr over [frame 0 vars, ..., frame K-1 vars, shared vars]."""
    count = jac.shape[0]
    shared_size = jac.shape[2] - size
    total = count * size + shared_size
    hessian = jac.new_zeros(total, total)
    gradient = jac.new_zeros(total)
    shared = slice(count * size, total)
    for k in range(count):
        own = slice(k * size, (k + 1) * size)
        jx, js = jac[k, :, :size], jac[k, :, size:]
        hessian[own, own] = jx.T @ jx
        hessian[own, shared] = jx.T @ js
        hessian[shared, own] = js.T @ jx
        hessian[shared, shared] += js.T @ js
        gradient[own] = jx.T @ residual[k]
        gradient[shared] += js.T @ residual[k]
    return DenseSystem(hessian, gradient)


def jacobian_pattern(residual_fn: Callable[[torch.Tensor], torch.Tensor], size: int, device, seed: int = 0) -> torch.Tensor:
    """(R, P) bool: which residuals each variable can move, from Jacobians at generic points.

    The body's kinematic tree makes this structural (a finger moves only its own points).
    Hinge priors (elbows and knees bending backwards) move their residual only when active,
    so the points include all variables far above and far below zero.
    """
    generator = torch.Generator().manual_seed(seed)
    pattern = None
    for offset in PATTERN_OFFSETS:
        point = (torch.randn(size, generator=generator) * 0.5 + offset).to(device)
        nonzero = jacobian(residual_fn, point) != 0
        pattern = nonzero if pattern is None else pattern | nonzero
    return pattern


def colour_columns(pattern: torch.Tensor) -> torch.Tensor:
    """(P,) colour of each column such that columns of one colour share no row (greedy, densest first).

    One forward-mode pass per colour then gives all columns of that colour at once.
    """
    pattern = pattern.cpu()
    order = torch.argsort(pattern.sum(dim=0), descending=True, stable=True)
    colours = torch.full((pattern.shape[1],), -1, dtype=torch.long)
    used_rows: list[torch.Tensor] = []
    for column in order.tolist():
        rows = pattern[:, column]
        for colour, taken in enumerate(used_rows):
            if not (taken & rows).any():
                used_rows[colour] = taken | rows
                colours[column] = colour
                break
        else:
            colours[column] = len(used_rows)
            used_rows.append(rows.clone())
    return colours


class ColouredJacobian:
    """Per-frame Jacobians of a residual function by forward differences, one pass per column colour.

    residual_fn(x (B, P)) -> (B, R) must treat rows independently (a batch of frames). The
    Jacobian only shapes the Gauss-Newton Hessian (the gradient comes from autograd), so
    differences in float32 are accurate enough, and cost a plain forward pass.
    """

    def __init__(self, pattern: torch.Tensor, device, step: float = 1e-3):
        self.pattern = pattern.to(device)
        colours = colour_columns(pattern)
        self.count = int(colours.max()) + 1
        self.seeds = torch.nn.functional.one_hot(colours, self.count).T.to(device=device, dtype=torch.float32)  # (C, P)
        self.colours = colours.to(device)
        self.step = step
        single = pattern.sum(dim=1) <= 1  # rows that move one variable at most: their JᵀJ is diagonal
        self.dense_rows = torch.nonzero(~single)[:, 0].to(device)
        self.diagonal_rows = torch.nonzero(single)[:, 0].to(device)

    def __call__(self, residual_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                 base: torch.Tensor) -> torch.Tensor:
        """(n, R, P) Jacobians at the frames x (n, P), whose residuals are `base` (n, R)."""
        frames = x.shape[0]
        with torch.no_grad():
            shifted = x.repeat_interleave(self.count, dim=0) + self.step * self.seeds.repeat(frames, 1)
            compressed = (residual_fn(shifted).reshape(frames, self.count, -1) - base[:, None]) / self.step
        # Column p of frame t is row colour(p) of its compressed block, on the rows p can move.
        return compressed[:, self.colours, :].transpose(1, 2) * self.pattern

    def gauss_newton_hessian(self, jac: torch.Tensor) -> torch.Tensor:
        """(n, P, P) JᵀJ in float64, the rows that move one variable added as a diagonal."""
        dense = jac[:, self.dense_rows]
        hessian = (dense.transpose(1, 2) @ dense).double()
        diagonal = (jac[:, self.diagonal_rows] ** 2).sum(dim=1).double()
        return hessian + torch.diag_embed(diagonal)


def solve_block_tridiagonal(diagonal: torch.Tensor, coupling: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solve the symmetric block-tridiagonal system with blocks diagonal (n, P, P) on the diagonal
    and −diag(coupling) (P,) between neighbours, for rhs (n, P) (block Thomas algorithm)."""
    frames = diagonal.shape[0]
    if frames == 1 or not bool(coupling.any()):
        return torch.cholesky_solve(rhs[..., None], torch.linalg.cholesky(diagonal))[..., 0]
    factors, forward = [], []
    schur, y = diagonal[0], rhs[0]
    for t in range(frames):
        if t > 0:
            inverse = torch.cholesky_inverse(factors[-1])  # S_{t-1}⁻¹
            schur = diagonal[t] - coupling[:, None] * inverse * coupling[None, :]
            y = rhs[t] + coupling * (inverse @ forward[-1])
        factors.append(torch.linalg.cholesky(schur))
        forward.append(y)
    solution = [None] * frames
    following = None
    for t in reversed(range(frames)):
        right = forward[t] if following is None else forward[t] + coupling * following
        following = torch.cholesky_solve(right[:, None], factors[t])[:, 0]
        solution[t] = following
    return torch.stack(solution)
