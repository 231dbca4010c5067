"""The compiled projection (skelvis.projection_kernel): its rows are constraint_blocks' rows, its
sparse Cholesky solves like a dense solve (and falls back where M is not positive definite), and
the leaves-first order of the bone rows factorises without fill."""
import math

import numpy as np
import pytest

from skelvis import constraints as C
from skelvis import projection_kernel as K
from skelvis.topology import KINECT_V1, KINECT_V2, MSR_ACTION3D


def _poses(topology, rng, n=40):
    """Random poses around a stretched rest-like layout, some with degenerate bones (a joint on
    its neighbour) so that the zero-length branches of both implementations run."""
    base = rng.normal(size=(topology.num_joints, 3))
    x = base + 0.3 * rng.normal(size=(n, topology.num_joints, 3))
    for t in range(0, n, 7):
        a, b = topology.bones[t % len(topology.bones)]
        x[t, b] = x[t, a]
    return x


@pytest.mark.fast
@pytest.mark.parametrize("topology", [KINECT_V2, KINECT_V1, MSR_ACTION3D], ids=lambda t: t.name)
@pytest.mark.parametrize("name", ["paper", "plausible"])
def test_rows_are_constraint_blocks_rows(topology, name):
    """Residuals and Jacobian blocks of every row, compiled (per scalar) against constraint_blocks
    (numpy, vectorised), with and without the inner margin: equal to 1e-12 (relative where a
    degenerate row's blocks are ~1e12)."""
    rng = np.random.default_rng(1)
    cs = C.constraint_set(topology, **C.CONSTRAINT_SETS[name])
    x = _poses(topology, rng)
    L = np.abs(rng.normal(1.0, 0.2, size=(len(x), len(cs.bones))))
    fy = rng.normal(size=len(x))
    p = C.row_program(cs)
    w = K._workspace(len(p.kind), topology.num_joints)
    for margin in (0.0, 0.01):
        ref_c, ref_blk = C.constraint_blocks(x, cs, L, fy, margin)
        for b in range(len(x)):
            K._evaluate(x[b], L[b], fy[b], math.radians(margin), True, p, w)
            np.testing.assert_allclose(w.c, ref_c[b], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(w.blk, ref_blk[b], rtol=1e-12, atol=1e-12)  # degenerate rows: ~1e12


_NONE = np.zeros(1, np.int64)  # no static pattern: every column scanned


def _work(m):
    return np.empty((m, m)), np.empty(m), np.empty(m * m, np.int64), np.empty(m + 1, np.int64)


@pytest.mark.fast
def test_solves_are_dense_solves():
    """Sparse symmetric positive definite systems (D D^T of a sparse D, lower triangle given) are
    solved by the sparse Cholesky as by np.linalg.solve; a symmetric indefinite one is refused
    by it (x untouched) and solved by the pivoting fallback, as well."""
    rng = np.random.default_rng(2)
    for m in (1, 5, 30):
        D = rng.normal(size=(m, 2 * m)) * (rng.random((m, 2 * m)) < 0.15)
        M = D @ D.T + 1e-3 * np.eye(m)
        rhs = rng.normal(size=m)
        A, x, nz, colptr = _work(m)
        A[:] = np.tril(M)
        x[:] = rhs
        assert K._cholesky_solve(A, x, m, 0, _NONE, _NONE, nz, colptr)
        np.testing.assert_allclose(x, np.linalg.solve(M, rhs), rtol=1e-9, atol=1e-12)
        S = rng.normal(size=(m, m))
        S = S + S.T
        S[0, 0] = -abs(S[0, 0]) - 1.0   # a negative pivot: Cholesky fails at once
        A[:] = S
        x[:] = rhs
        assert not K._cholesky_solve(A, x, m, 0, _NONE, _NONE, nz, colptr)
        assert (x == rhs).all()
        A[:] = S
        K._pivoting_solve(A, x, m)
        np.testing.assert_allclose(S @ x, rhs, rtol=0, atol=1e-8)


@pytest.mark.fast
@pytest.mark.parametrize("topology", [KINECT_V2, MSR_ACTION3D], ids=lambda t: t.name)
def test_bone_rows_leaves_first_factorise_without_fill(topology):
    """With the bone rows in row_program's order, the Cholesky factor of D D^T on the bone rows has
    nonzeros only where D D^T has (the order is what makes the sparse Cholesky cheap; root first,
    the spine's bones would fill in); row_program's static pattern is that pattern, and the
    factorisation on it (no scan) gives the same factor."""
    cs = C.constraint_set(topology)
    p = C.row_program(cs)
    rng = np.random.default_rng(3)
    x = _poses(topology, rng, 2)[1]  # frame 0 has a degenerate bone
    nb = len(cs.bones)
    _h, H, _g, _G = C.jacobians(x, cs, np.ones(nb))
    Dm = H[p.order]
    M = Dm @ Dm.T
    A, _x, nz, colptr = _work(nb)
    A[:] = np.tril(M)
    assert K._cholesky(A, nb, 0, _NONE, _NONE, nz, colptr)
    pattern = np.tril(np.abs(M) > 0)
    factor = np.tril(np.abs(A) > 0)
    assert (factor <= pattern).all()
    np.testing.assert_allclose(np.tril(A) @ np.tril(A).T, M, atol=1e-10)
    static = np.eye(nb, dtype=bool)   # the symbolic pattern the kernel factorises on, without scanning
    for j in range(nb):
        static[p.brows[p.bptr[j]:p.bptr[j + 1]], j] = True
    assert (static == pattern).all()
    scanned = np.tril(A)
    A[:] = np.tril(M)
    assert K._cholesky(A, nb, nb, p.bptr, p.brows, nz, colptr)
    np.testing.assert_allclose(np.tril(A), scanned, rtol=0, atol=1e-14)
    root_first = p.order[::-1]
    Mr = H[root_first] @ H[root_first].T
    A[:] = np.tril(Mr)
    assert K._cholesky(A, nb, 0, _NONE, _NONE, nz, colptr)
    assert (np.tril(np.abs(A) > 0) > np.tril(np.abs(Mr) > 0)).any()  # the reverse order does fill in


@pytest.mark.fast
def test_one_compiled_specialisation_whatever_the_inputs():
    """project hands the kernel C-contiguous writeable arrays of fixed dtypes: read-only inputs,
    broadcast bone lengths and floors, a single frame, tensors, a start given, the plausible set —
    all run on one compiled specialisation (each other one would cost another ~30 s compilation
    in every fresh checkout; read-only arrays made five of them)."""
    import torch

    cs = C.constraint_set(KINECT_V2)
    plaus = C.constraint_set(KINECT_V2, **C.CONSTRAINT_SETS["plausible"])
    rng = np.random.default_rng(4)
    x = _poses(KINECT_V2, rng, 4)[1:]
    frozen = x.copy()
    frozen.flags.writeable = False
    L = np.ones(len(cs.bones))
    C.project(x, cs, L)
    C.project(frozen[:1], cs, L, x_init=frozen[:1])
    C.project(torch.as_tensor(x), cs, torch.as_tensor(L).expand(len(x), -1))
    C.project(x, plaus, L, floor_y=0.0)
    C.project(x[:1], plaus, L[None], floor_y=np.zeros(1), enabled=np.ones(plaus.num_inequalities, bool))
    assert len(K.project_frames.signatures) == 1


@pytest.mark.fast
@pytest.mark.parametrize("name", ["paper", "plausible"])
def test_assembled_system_is_the_dense_one(name):
    """_assemble's lower triangle (bone block from the static pairs, inequality rows from the
    joints they share) is D_a D_a^T + 1e-12 I of the dense Jacobian's active rows, in the kernel's
    row order, and its right-hand side c_a - D_a r; repeated with other active rows on the same
    work array (stale entries would show)."""
    rng = np.random.default_rng(6)
    cs = C.constraint_set(KINECT_V2, **C.CONSTRAINT_SETS[name])
    p = C.row_program(cs)
    mf, nb, J = len(p.kind), p.nb, KINECT_V2.num_joints
    w = K._workspace(mf, J)
    x = _poses(KINECT_V2, rng, 2)[1]
    L = np.abs(rng.normal(1.0, 0.2, size=nb))
    h, H, g, G = C.jacobians(x, cs, L, 0.0)
    D, c = np.concatenate([H, G]), np.concatenate([h, g])
    K._evaluate(x, L, 0.0, 0.0, True, p, w)
    r = 0.1 * rng.normal(size=(J, 3))
    for _ in range(3):
        active = rng.random(mf - nb) < 0.4
        rows = np.r_[p.order, nb + np.flatnonzero(active)]
        m = len(rows)
        w.sys_rows[:m] = rows
        w.pos[:] = -1
        w.pos[rows] = np.arange(m)
        K._assemble(w.sys_rows, m, w.pos, True, r, w.c, w.blk, p, w.A, w.x)
        Da = D[rows]
        want = Da @ Da.T + 1e-12 * np.eye(m)
        np.testing.assert_allclose(np.tril(w.A[:m, :m]), np.tril(want), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(w.x[:m], c[rows] - Da @ r.reshape(-1), rtol=1e-12, atol=1e-12)
        K._cholesky_solve(w.A, w.x, m, nb, p.bptr, p.brows, w.nz, w.colptr)  # the factor overwrites A
