"""Eq. 14's projection on the CPU, one frame at a time, compiled by numba.

The projection of :func:`skelvis.constraints.project` (feasibility restoration by minimum-norm
Gauss-Newton steps, then ``refine_iter`` SQP steps toward the target, each restored and accepted
only when it is feasible and closer, the step halved otherwise; an inequality is active while
violated or while its multiplier pushes, KKT sign) as a single compiled loop over frames.  The
batched torch path (accelerators) runs the same iteration on all frames at once; on the CPU every
operation on a batch of 100 frames costs microseconds of interpreter and dispatch overhead, and
one projection takes some 40 of them per iteration, so here each frame runs the whole iteration
in compiled code and only the result returns to Python.

Per frame the system has one row per bone and per active inequality (m <= 24 + 6 on the ``paper``
set).  ``M = D D^T`` (D the rows' Jacobian) is assembled from the products of the Jacobian blocks
that meet at a joint (:func:`_assemble`), and factorised by a Cholesky that visits only nonzeros
(:func:`_cholesky`): with the bone rows ordered leaves first (``order``: a bone whose remaining
neighbours all share a joint, :func:`skelvis.constraints.row_program`), eliminating a bone
connects only rows that already share a joint, so the bone block factorises without fill, on a
static pattern computed once, and only the few inequality rows are scanned.  Where a pivot is not positive (a numerically singular ``D D^T``), the
system is solved by Gaussian elimination with partial pivoting instead, as the torch path falls back
to LU.

The rows (:func:`_rows`) are those of :func:`skelvis.constraints.constraint_blocks`, the same
equations written per scalar: bones ``|x_b - x_a| / L - 1`` (Eq. 9-10), three-joint angle limits
(Eq. 11, radians), the hip-plane limit (Eq. 12-13), floor, support and capsule rows
(:mod:`skelvis.volume`: Ericson's clamped closest points and the envelope-theorem gradient).  A
test holds them to ``constraint_blocks`` to 1e-12 on random poses of every layout and set.

Row kinds: 0 bone, 1 angle lower limit, 2 angle upper limit, 3 plane, 4 floor, 5 support,
6 volume; the arrays describing them are a :class:`RowProgram`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

__all__ = ["RowProgram", "project_frames"]

BONE, ANGLE_LO, ANGLE_HI, PLANE, FLOOR, SUPPORT, VOLUME = range(7)
DONE = 1e-9  # residual below which restoration stops: 1e-3 of the feasibility tolerance of a bone (1e-6); both paths
EPS2 = 1e-24  # squared-length floor of every norm (skelvis.constraints._norm uses it too)
SIN2 = 1e-12  # floor of sin^2 in d arccos (both paths)
RIDGE = 1e-12  # added to the diagonal of D D^T (both paths)

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


class RowProgram(NamedTuple):
    """The rows of a constraint set as arrays (built by skelvis.constraints.row_program)."""

    kind: np.ndarray       # (mf,) int64 row kind (BONE ... VOLUME)
    idx: np.ndarray        # (mf, 4) int64 joints of each row
    nslot: np.ndarray      # (mf,) int64 joints used
    const: np.ndarray      # (mf,) limit (radians), support tolerance or summed capsule radii
    trunk: np.ndarray      # (2,) int64 bones whose summed length is ell
    up: int                # the up axis (floor and support rows)
    nb: int                # bone rows (first)
    order: np.ndarray      # (nb,) int64 elimination order of the bone rows
    inc_ptr: np.ndarray    # (J + 1,) int64: joint j's entries are inc_ptr[j]:inc_ptr[j + 1]
    inc_row: np.ndarray    # (n,) int64 row of each entry
    inc_slot: np.ndarray   # (n,) int64 slot of each entry
    near_tol: np.ndarray   # (ni,) an inequality this close to its limit enters a refinement step
    bone_pairs: np.ndarray  # (P, 6) int64: bones sharing a joint, (position k > l, row k, slot, row l, slot)
    bptr: np.ndarray       # (nb + 1,) int64: the factor's pattern on the bone block, by column
    brows: np.ndarray      # positions below the diagonal (symbolic Cholesky; no fill leaves first)


@_jit
def _acos_terms(c):
    """arccos(c) and d arccos / dc = -1 / sin (sin clamped away from 0), as constraints._acos_terms."""
    c = min(max(c, -1.0), 1.0)
    s = math.sqrt(max(1.0 - c * c, SIN2))
    return math.acos(c), -1.0 / s


@_jit
def _segment(y, p1, q1, p2, q2, jac, blk, k):
    """Distance between segments y[p1]-y[q1] and y[p2]-y[q2] and (into blk[k] (4, 3)) its gradient
    with respect to the four joints (with ``jac``): :func:`skelvis.volume.segment_distance` for one pair."""
    d10, d11, d12 = y[q1, 0] - y[p1, 0], y[q1, 1] - y[p1, 1], y[q1, 2] - y[p1, 2]
    d20, d21, d22 = y[q2, 0] - y[p2, 0], y[q2, 1] - y[p2, 1], y[q2, 2] - y[p2, 2]
    r0, r1, r2 = y[p1, 0] - y[p2, 0], y[p1, 1] - y[p2, 1], y[p1, 2] - y[p2, 2]
    a = d10 * d10 + d11 * d11 + d12 * d12
    e = d20 * d20 + d21 * d21 + d22 * d22
    f = d20 * r0 + d21 * r1 + d22 * r2
    c = d10 * r0 + d11 * r1 + d12 * r2
    b = d10 * d20 + d11 * d21 + d12 * d22
    tiny = 1e-18
    denom = a * e - b * b
    a_ = a if a > tiny else 1.0
    e_ = e if e > tiny else 1.0
    if denom > tiny * (a * e + tiny):
        s = min(max((b * f - c * e) / (denom if denom > 0 else 1.0), 0.0), 1.0)
    else:
        s = 0.0
    t = (b * s + f) / e_
    if t < 0:
        s = min(max(-c / a_, 0.0), 1.0)
    elif t > 1:
        s = min(max((b - c) / a_, 0.0), 1.0)
    t = min(max(t, 0.0), 1.0)
    if not a > tiny:
        s = 0.0
    if not e > tiny:
        t = 0.0
    w0 = r0 + s * d10 - t * d20
    w1 = r1 + s * d11 - t * d21
    w2 = r2 + s * d12 - t * d22
    dist = math.sqrt(w0 * w0 + w1 * w1 + w2 * w2)
    if jac:
        inv = 1.0 / dist if dist > 0 else 1.0
        n0, n1, n2 = w0 * inv, w1 * inv, w2 * inv
        for slot, wt in ((0, 1.0 - s), (1, s), (2, t - 1.0), (3, -t)):
            blk[k, slot, 0] = wt * n0
            blk[k, slot, 1] = wt * n1
            blk[k, slot, 2] = wt * n2
    return dist


@_jit
def _rows(y, L, fy, kind, idx, nslot, const, trunk, up, mrad, jac, which, c, blk):
    """Residuals c[k] (and with ``jac`` the blocks blk[k] (4, 3)) of the rows k with which[k] of
    the pose y (J, 3): Eq. 9-13, floor, support and volume rows, targeted with the inner margin
    ``mrad`` radians on angle and plane rows (as constraint_blocks with margin_deg).  Slots a row
    does not use are never written (zero from the workspace's allocation)."""
    ell = L[trunk[0]] + L[trunk[1]] if L.shape[0] else 0.0  # no bones: no support or volume rows either
    for k in range(kind.shape[0]):
        if not which[k]:
            continue
        kd = kind[k]
        if kd == BONE:
            a, b = idx[k, 0], idx[k, 1]
            u0, u1, u2 = y[b, 0] - y[a, 0], y[b, 1] - y[a, 1], y[b, 2] - y[a, 2]
            nu = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2 + EPS2)
            c[k] = nu / L[k] - 1.0
            if jac:
                sc = 1.0 / (nu * L[k])
                blk[k, 0, 0], blk[k, 0, 1], blk[k, 0, 2] = -u0 * sc, -u1 * sc, -u2 * sc
                blk[k, 1, 0], blk[k, 1, 1], blk[k, 1, 2] = u0 * sc, u1 * sc, u2 * sc
        elif kd == ANGLE_LO or kd == ANGLE_HI:
            a, b, cc = idx[k, 0], idx[k, 1], idx[k, 2]
            u0, u1, u2 = y[a, 0] - y[b, 0], y[a, 1] - y[b, 1], y[a, 2] - y[b, 2]
            v0, v1, v2 = y[cc, 0] - y[b, 0], y[cc, 1] - y[b, 1], y[cc, 2] - y[b, 2]
            nu = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2 + EPS2)
            nv = math.sqrt(v0 * v0 + v1 * v1 + v2 * v2 + EPS2)
            cs = (u0 * v0 + u1 * v1 + u2 * v2) / (nu * nv)
            theta, dth = _acos_terms(cs)
            c[k] = theta - (const[k] + mrad) if kd == ANGLE_LO else (const[k] - mrad) - theta
            if jac:
                sg = dth if kd == ANGLE_LO else -dth
                inv, cu, cv = 1.0 / (nu * nv), cs / (nu * nu), cs / (nv * nv)
                a0, a1, a2 = (v0 * inv - cu * u0) * sg, (v1 * inv - cu * u1) * sg, (v2 * inv - cu * u2) * sg
                c0, c1, c2 = (u0 * inv - cv * v0) * sg, (u1 * inv - cv * v1) * sg, (u2 * inv - cv * v2) * sg
                blk[k, 0, 0], blk[k, 0, 1], blk[k, 0, 2] = a0, a1, a2
                blk[k, 1, 0], blk[k, 1, 1], blk[k, 1, 2] = -(a0 + c0), -(a1 + c1), -(a2 + c2)
                blk[k, 2, 0], blk[k, 2, 1], blk[k, 2, 2] = c0, c1, c2
        elif kd == PLANE:
            ri, b, li, ti = idx[k, 0], idx[k, 1], idx[k, 2], idx[k, 3]
            r0, r1, r2 = y[ri, 0] - y[b, 0], y[ri, 1] - y[b, 1], y[ri, 2] - y[b, 2]
            l0, l1, l2 = y[li, 0] - y[b, 0], y[li, 1] - y[b, 1], y[li, 2] - y[b, 2]
            w0, w1, w2 = y[ti, 0] - y[b, 0], y[ti, 1] - y[b, 1], y[ti, 2] - y[b, 2]
            n0, n1, n2 = r1 * l2 - r2 * l1, r2 * l0 - r0 * l2, r0 * l1 - r1 * l0
            nn = math.sqrt(n0 * n0 + n1 * n1 + n2 * n2 + EPS2)
            nw = math.sqrt(w0 * w0 + w1 * w1 + w2 * w2 + EPS2)
            f = (n0 * w0 + n1 * w1 + n2 * w2) / (nn * nw)
            phi, dphi = _acos_terms(f)
            c[k] = (const[k] - mrad) - phi
            if jac:
                sc = -dphi
                inv, fn, fw = 1.0 / (nn * nw), f / (nn * nn), f / (nw * nw)
                e0, e1, e2 = (w0 * inv - fn * n0) * sc, (w1 * inv - fn * n1) * sc, (w2 * inv - fn * n2) * sc  # d/dn
                g0, g1, g2 = (n0 * inv - fw * w0) * sc, (n1 * inv - fw * w1) * sc, (n2 * inv - fw * w2) * sc  # d/dw
                # d/dr = l x dn, d/dl = dn x r
                p0, p1, p2 = l1 * e2 - l2 * e1, l2 * e0 - l0 * e2, l0 * e1 - l1 * e0
                q0, q1, q2 = e1 * r2 - e2 * r1, e2 * r0 - e0 * r2, e0 * r1 - e1 * r0
                blk[k, 0, 0], blk[k, 0, 1], blk[k, 0, 2] = p0, p1, p2
                blk[k, 1, 0], blk[k, 1, 1], blk[k, 1, 2] = -(p0 + q0 + g0), -(p1 + q1 + g1), -(p2 + q2 + g2)
                blk[k, 2, 0], blk[k, 2, 1], blk[k, 2, 2] = q0, q1, q2
                blk[k, 3, 0], blk[k, 3, 1], blk[k, 3, 2] = g0, g1, g2
        elif kd == FLOOR:
            c[k] = y[idx[k, 0], up] - fy
            if jac:
                blk[k, 0, up] = 1.0
        elif kd == SUPPORT:
            low = y[idx[k, 0], up]
            arg = 0
            for s in range(1, nslot[k]):
                h = y[idx[k, s], up]
                if h < low:
                    low, arg = h, s
            c[k] = fy + const[k] * ell - low
            if jac:
                for s in range(nslot[k]):
                    blk[k, s, up] = 0.0
                blk[k, arg, up] = -1.0
        else:  # VOLUME
            dist = _segment(y, idx[k, 0], idx[k, 1], idx[k, 2], idx[k, 3], jac, blk, k)
            c[k] = dist - const[k] * ell


@_jit
def _assemble(sys_rows, m, pos, r_on, r, c, blk, prog, M, rhs):
    """The lower triangle of M = D D^T + 1e-12 I on the m system rows sys_rows[:m] (positions
    ``pos``; -1: not in the system; the nb bone rows first, in elimination order) and
    rhs = c - D r (r read when r_on).  The bone block comes from the static list of bones that
    share a joint, written on the factor's static pattern only (entries off it are zero and stay
    so: the Cholesky writes nowhere else); the inequality rows from the blocks that meet theirs at
    a joint."""
    idx, nslot, nb = prog.idx, prog.nslot, prog.nb
    bptr, brows, pairs = prog.bptr, prog.brows, prog.bone_pairs
    for j in range(nb):
        row = sys_rows[j]
        v = 0.0
        for s in range(nslot[row]):
            v += blk[row, s, 0] * blk[row, s, 0] + blk[row, s, 1] * blk[row, s, 1] + blk[row, s, 2] * blk[row, s, 2]
        M[j, j] = v
        for p in range(bptr[j], bptr[j + 1]):
            M[brows[p], j] = 0.0
    for t in range(pairs.shape[0]):
        rk, sk, rl, sl = pairs[t, 2], pairs[t, 3], pairs[t, 4], pairs[t, 5]
        M[pairs[t, 0], pairs[t, 1]] += (blk[rk, sk, 0] * blk[rl, sl, 0] + blk[rk, sk, 1] * blk[rl, sl, 1]
                                        + blk[rk, sk, 2] * blk[rl, sl, 2])
    for p in range(nb, m):
        for q in range(p + 1):
            M[p, q] = 0.0
        ri = sys_rows[p]
        for s in range(nslot[ri]):
            j = idx[ri, s]
            for e in range(prog.inc_ptr[j], prog.inc_ptr[j + 1]):
                ro = prog.inc_row[e]
                q = pos[ro]
                if q < 0 or q > p:
                    continue
                so = prog.inc_slot[e]
                M[p, q] += blk[ri, s, 0] * blk[ro, so, 0] + blk[ri, s, 1] * blk[ro, so, 1] + blk[ri, s, 2] * blk[ro, so, 2]
    for k in range(m):
        row = sys_rows[k]
        M[k, k] += RIDGE
        v = c[row]
        if r_on:
            for s in range(nslot[row]):
                j = idx[row, s]
                v -= blk[row, s, 0] * r[j, 0] + blk[row, s, 1] * r[j, 1] + blk[row, s, 2] * r[j, 2]
        rhs[k] = v


@_jit
def _cholesky(A, m, nb, bptr, brows, nz, colptr):
    """In-place Cholesky A = L L^T of the leading m x m block (lower triangle), right-looking,
    visiting only nonzeros: in the first nb columns (the bone block) the static pattern
    bptr/brows plus the nonzero rows below nb, elsewhere the nonzero rows found by a scan.  The
    rows of column j's nonzeros below the diagonal are left in nz[colptr[j]:colptr[j + 1]].
    False when a pivot is not positive."""
    cnt = 0
    for j in range(m):
        colptr[j] = cnt
        d = A[j, j]
        if not d > 0.0:
            return False
        d = math.sqrt(d)
        A[j, j] = d
        first = cnt
        if j < nb:
            for p in range(bptr[j], bptr[j + 1]):
                i = brows[p]
                A[i, j] /= d
                nz[cnt] = i
                cnt += 1
        for i in range(max(j + 1, nb), m):
            if A[i, j] != 0.0:
                A[i, j] /= d
                nz[cnt] = i
                cnt += 1
        for p in range(first, cnt):
            i = nz[p]
            lij = A[i, j]
            for q in range(first, p + 1):
                kq = nz[q]
                A[i, kq] -= lij * A[kq, j]
    colptr[m] = cnt
    return True


@_jit
def _cholesky_solve(A, x, m, nb, bptr, brows, nz, colptr):
    """x <- M^-1 x for the SPD M whose lower triangle is in A (overwritten by its factor): Cholesky
    (:func:`_cholesky`) and triangular solves over the factor's nonzeros.  False (x untouched)
    when a pivot is not positive."""
    if not _cholesky(A, m, nb, bptr, brows, nz, colptr):
        return False
    for j in range(m):                     # L y = x
        xj = x[j] / A[j, j]
        x[j] = xj
        for p in range(colptr[j], colptr[j + 1]):
            i = nz[p]
            x[i] -= A[i, j] * xj
    for j in range(m - 1, -1, -1):         # L^T x = y
        v = x[j]
        for p in range(colptr[j], colptr[j + 1]):
            i = nz[p]
            v -= A[i, j] * x[i]
        x[j] = v / A[j, j]
    return True


@_jit
def _pivoting_solve(A, x, m):
    """x <- A^-1 x for the leading m x m block of A (overwritten) by Gaussian elimination with
    partial pivoting: where D D^T is numerically singular and Cholesky fails (the torch path
    falls back to LU there)."""
    for j in range(m):
        piv = j
        for i in range(j + 1, m):
            if abs(A[i, j]) > abs(A[piv, j]):
                piv = i
        if piv != j:
            for q in range(m):
                A[j, q], A[piv, q] = A[piv, q], A[j, q]
            x[j], x[piv] = x[piv], x[j]
        for i in range(j + 1, m):
            f = A[i, j] / A[j, j]
            for q in range(j, m):
                A[i, q] -= f * A[j, q]
            x[i] -= f * x[j]
    for i in range(m - 1, -1, -1):
        v = x[i]
        for q in range(i + 1, m):
            v -= A[i, q] * x[q]
        x[i] = v / A[i, i]


class Workspace(NamedTuple):
    """The work arrays of one frame's iteration, allocated once per call of :func:`project_frames`
    (mf rows, J joints)."""

    c: np.ndarray          # (mf,) residuals
    blk: np.ndarray        # (mf, 4, 3) Jacobian blocks
    which: np.ndarray      # (mf,) rows to evaluate
    act: np.ndarray        # (mf,) active inequalities (restoration)
    keep: np.ndarray       # (mf,) kept by their multiplier's sign (restoration)
    near: np.ndarray       # (mf,) near-active inequalities (refinement)
    pos: np.ndarray        # (mf,) position of a row in the system, -1 if not in it
    sys_rows: np.ndarray   # (mf,) the system's rows
    A: np.ndarray          # (mf, mf) D D^T and its factor (zeros at first: see _assemble)
    x: np.ndarray          # (mf,) right-hand side, then the multipliers of the system's rows
    lam: np.ndarray        # (mf,) multipliers per row (0 on rows left out)
    nz: np.ndarray         # (mf * mf,) the factor's pattern by column
    colptr: np.ndarray     # (mf + 1,)
    r: np.ndarray          # (J, 3) alpha (y - z)
    delta: np.ndarray      # (J, 3) the step
    trial: np.ndarray      # (J, 3) the restored trial pose


@_jit
def _workspace(mf, J):
    """A :class:`Workspace` for mf rows and J joints."""
    return Workspace(np.empty(mf), np.zeros((mf, 4, 3)), np.ones(mf, np.bool_), np.zeros(mf, np.bool_),
                     np.zeros(mf, np.bool_), np.zeros(mf, np.bool_), np.empty(mf, np.int64),
                     np.empty(mf, np.int64), np.zeros((mf, mf)), np.empty(mf), np.empty(mf),
                     np.empty(max(mf * mf, 1), np.int64), np.empty(mf + 1, np.int64), np.empty((J, 3)), np.empty((J, 3)), np.empty((J, 3)))


@_jit
def _newton(y, z, alpha, active, prog, w):
    """One linearised step (constraints._newton_system for one frame): minimise
    |y + delta - alpha z - (1 - alpha) y| subject to the linearised bone rows and the inequality
    rows k with active[k - nb], at the residuals and blocks w's c and blk.  Leaves delta (J, 3)
    and lam (mf,) (0 on rows left out) in the workspace ``w``."""
    nb, order, idx, nslot = prog.nb, prog.order, prog.idx, prog.nslot
    c, blk, pos, sys_rows, A, x, lam, r, delta = w.c, w.blk, w.pos, w.sys_rows, w.A, w.x, w.lam, w.r, w.delta
    mf = c.shape[0]
    m = 0
    for k in range(nb):
        sys_rows[m] = order[k]
        m += 1
    for k in range(nb, mf):
        if active[k - nb]:
            sys_rows[m] = k
            m += 1
    for k in range(mf):
        pos[k] = -1
        lam[k] = 0.0
    for k in range(m):
        pos[sys_rows[k]] = k
    J = y.shape[0]
    for j in range(J):
        for q in range(3):
            r[j, q] = alpha * (y[j, q] - z[j, q])
    _assemble(sys_rows, m, pos, alpha != 0.0, r, c, blk, prog, A, x)
    if not _cholesky_solve(A, x, m, nb, prog.bptr, prog.brows, w.nz, w.colptr):
        _assemble(sys_rows, m, pos, alpha != 0.0, r, c, blk, prog, A, x)
        for i in range(m):  # the whole symmetric M for the pivoting solve
            for q in range(i):
                A[q, i] = A[i, q]
        _pivoting_solve(A, x, m)
        for i in range(nb):  # off the static pattern the bone block must be zero again
            for q in range(i + 1):
                A[i, q] = 0.0
    for j in range(J):
        for q in range(3):
            delta[j, q] = -r[j, q]
    for k in range(m):
        row = sys_rows[k]
        lam[row] = x[k]
        for s in range(nslot[row]):
            j = idx[row, s]
            for q in range(3):
                delta[j, q] -= x[k] * blk[row, s, q]


@_jit
def _evaluate(y, L, fy, mrad, jac, prog, w):
    """Every row's residual (and with ``jac`` its blocks) at y into the workspace (:func:`_rows`)."""
    w.which[:] = True
    _rows(y, L, fy, prog.kind, prog.idx, prog.nslot, prog.const, prog.trunk, prog.up, mrad, jac, w.which, w.c,
          w.blk)


@_jit
def _feasible(y, L, fy, en, bone_tol, ftol, prog, w):
    """Every bone within ``bone_tol`` (relative) and every enabled inequality above its tolerance
    ftol[k - nb] (margin 0): constraints._feasible for one frame.  The residuals (margin 0) stay
    in w.c for the rows evaluated (bones and enabled inequalities)."""
    nb, c, which = prog.nb, w.c, w.which
    for k in range(c.shape[0]):
        which[k] = True if k < nb else en[k - nb]
    _rows(y, L, fy, prog.kind, prog.idx, prog.nslot, prog.const, prog.trunk, prog.up, 0.0, False, which, c,
          w.blk)
    for k in range(nb):
        if abs(c[k]) > bone_tol:
            return False
    for k in range(nb, c.shape[0]):
        if en[k - nb] and c[k] < ftol[k - nb]:
            return False
    return True


@_jit
def _measure(en, prog, c, berr, viol):
    """From the margin-0 residuals c of :func:`_feasible`: the largest relative bone error and each
    enabled inequality's violation (degrees for angle and plane rows, coordinate units for the
    others; 0 where met or disabled), as constraints._report measures them."""
    nb = prog.nb
    e = 0.0
    for k in range(nb):
        e = max(e, abs(c[k]))
    berr[0] = e
    for k in range(c.shape[0] - nb):
        v = 0.0
        if en[k] and c[nb + k] < 0:
            v = -c[nb + k]
            if prog.kind[nb + k] <= PLANE:
                v = math.degrees(v)
        viol[k] = v


@_jit
def _restore(y, L, fy, en, mrad, max_iter, tol, prog, w):
    """Feasibility restoration of y (J, 3) in place (constraints._restore for one frame):
    minimum-norm Gauss-Newton steps on the bone rows and the violated (or still pushing)
    enabled inequalities, until the residuals are below ``DONE`` or the step below ``tol``."""
    nb = prog.nb
    c, act, keep, lam, delta = w.c, w.act, w.keep, w.lam, w.delta
    ni = c.shape[0] - nb
    keep[:] = False
    for _ in range(max_iter):
        _evaluate(y, L, fy, mrad, True, prog, w)
        done = True
        for k in range(nb):
            if abs(c[k]) > DONE:
                done = False
        for k in range(ni):
            if en[k] and c[nb + k] < -DONE:
                done = False
        if done:
            return
        for k in range(ni):
            act[k] = en[k] and (c[nb + k] < 0 or keep[k])
        _newton(y, y, 0.0, act, prog, w)
        big = 0.0
        for j in range(y.shape[0]):
            for q in range(3):
                y[j, q] += delta[j, q]
                big = max(big, abs(delta[j, q]))
        for k in range(ni):
            keep[k] = act[k] and lam[nb + k] < 0
        if big < tol:
            return


@_jit
def _project_frame(zb, y, L, fy, en, ftol, mrad, max_iter, refine_iter, tol, bone_tol, prog, w):
    """Eq. 14 for one frame, y (J, 3) the start, overwritten by the result; returns the refinement
    steps taken."""
    nb = prog.nb
    c, near, lam, delta, trial = w.c, w.near, w.lam, w.delta, w.trial
    ni = c.shape[0] - nb
    J = y.shape[0]
    _restore(y, L, fy, en, mrad, max_iter, tol, prog, w)
    step = 1.0
    it = 0
    for it in range(1, refine_iter + 1):
        _evaluate(y, L, fy, mrad, True, prog, w)
        for k in range(ni):
            near[k] = en[k] and c[nb + k] < prog.near_tol[k]
        _newton(y, zb, 1.0, near, prog, w)
        release = False
        for k in range(ni):
            if near[k] and lam[nb + k] > 0:
                near[k] = False
                release = True
        if release:  # the same system again without the rows whose multiplier has the wrong sign
            _newton(y, zb, 1.0, near, prog, w)
        big = 0.0
        for j in range(J):
            for q in range(3):
                big = max(big, abs(delta[j, q]))
        if big < 1e-9:
            break
        for j in range(J):
            for q in range(3):
                trial[j, q] = y[j, q] + step * delta[j, q]
        _restore(trial, L, fy, en, mrad, max_iter, tol, prog, w)
        d_old = 0.0
        d_new = 0.0
        for j in range(J):
            for q in range(3):
                d_old += (y[j, q] - zb[j, q]) ** 2
                d_new += (trial[j, q] - zb[j, q]) ** 2
        if d_new < d_old and _feasible(trial, L, fy, en, bone_tol, ftol, prog, w):
            y[:, :] = trial
            step = min(step * 2, 1.0)
        else:
            step = step / 2
    return it


@_jit
def project_frames(z, y0, L, fy, en, prog, ftol, mrad, max_iter, refine_iter, tol, bone_tol,
                   out, iters, feasible, berr, viol):
    """Eq. 14 for every frame b: out[b] = the pose closest to z[b] (J, 3) meeting the bone rows and
    the enabled inequalities en[b] (ni,), from the start y0[b]; L (B, nb) bone lengths, fy (B,)
    floor heights (unused without floor/support rows); ``prog``: the rows (:class:`RowProgram`).
    Restoration, then ``refine_iter`` SQP steps (near-active rows within
    prog.near_tol, released on a positive multiplier), each restored and kept when feasible (ftol,
    bone_tol) and closer to z, the step doubled up to 1 or halved.
    iters[b]: the refinement steps taken (a frame stops once its step is below 1e-9);
    feasible[b]: whether out[b] meets every row within its tolerance; berr[b] its largest relative
    bone error, viol[b] (ni,) each enabled inequality's violation (:func:`_measure`)."""
    B, J, _ = z.shape
    w = _workspace(prog.kind.shape[0], J)
    y = np.empty((J, 3))
    for b in range(B):
        y[:, :] = y0[b]
        iters[b] = _project_frame(z[b], y, L[b], fy[b], en[b], ftol, mrad, max_iter, refine_iter,
                                  tol, bone_tol, prog, w)
        out[b] = y
        feasible[b] = _feasible(y, L[b], fy[b], en[b], bone_tol, ftol, prog, w)
        _measure(en[b], prog, w.c, berr[b:b + 1], viol[b])
