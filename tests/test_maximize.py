"""Constrained activation maximisation (Patil et al. Eq. 6-14) and the maximize rule."""

import numpy as np
import pytest
import torch

from skelvis import constraints as C
from skelvis import maximize as M
from skelvis import rnn as R
from skelvis.datasets.store import read_dataset
from skelvis.datasets.synthetic import SyntheticConfig, generate
from skelvis.maximize import read_maximization_file
from skelvis.models import RecurrentClassifier
from skelvis.normalize import normalize
from skelvis.topology import KINECT_V2


@pytest.fixture(scope="module")
def poses():
    ds = generate(SyntheticConfig(classes=["throw", "kick"], subjects=2, repetitions=1, frames=16, max_frames=20))
    x, _scale, _ = normalize(ds.x, ds.length, KINECT_V2, "ntu")
    return x.astype(np.float64), ds.length


def _model(cell="lstm", layers=1, seed=0):
    torch.manual_seed(seed)
    return RecurrentClassifier(75, 8, 3, cell=cell, num_layers=layers).double().eval()


@pytest.mark.fast
@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("lstm", 2), ("gru", 2)])
def test_local_hidden_reproduces_the_network(cell, layers):
    """The core's cell step from the previous states gives torch's hidden states (all layers),
    so the local form is built on the real network."""
    m = _model(cell, layers)
    x = torch.randn(3, 9, 75, dtype=torch.float64)
    length = torch.tensor([9, 6, 3])
    for layer in range(layers):
        h = M.local_hidden(m, x, layer=layer) * R.valid_frames(length, 9)[..., None]
        torch.testing.assert_close(h, m.hidden_states(x, length, layer=layer), atol=1e-10, rtol=1e-8)


@pytest.mark.fast
@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 2)])
def test_local_gradient_is_eq7_frame_by_frame(cell, layers):
    """d_t = sum_u W_c^u dh_t^u/dx_t with (h_{t-1}, c_{t-1}) fixed, checked one frame at a time
    against a loop that re-runs the cell on that frame alone."""
    m = _model(cell, layers)
    x = torch.randn(2, 6, 75, dtype=torch.float64)
    length = torch.tensor([6, 4])
    target = M.Target("class", 1)
    d = M.target_gradient(m, x, length, target, "local")
    states = [st.previous() for st in R.sequence_states(m.rnn, x)]
    w = m.classifier.weight[1].detach()
    for n in range(2):
        for t in range(6):
            xt = x[n, t].clone().requires_grad_(True)
            inp = xt[None]
            for k in range(layers):
                hp, cp = states[k]
                inp = R.cell_step(cell, R.layer_weights(m.rnn, k), inp, hp[n, t][None],
                                  None if cp is None else cp[n, t][None]).h
            g, = torch.autograd.grad((inp[0] * w).sum(), xt)
            expect = g if t < int(length[n]) else torch.zeros_like(g)
            torch.testing.assert_close(d[n, t], expect, atol=1e-10, rtol=1e-8)
    # a hidden unit: its own response
    du = M.target_gradient(m, x, length, M.Target("unit", 2, layer=0), "local")
    assert du.shape == x.shape and float(du[1, 4:].abs().max()) == 0.0


@pytest.mark.fast
def test_through_time_gradient_matches_finite_differences():
    m = _model("lstm", 2)
    x = torch.randn(1, 5, 75, dtype=torch.float64)
    length = torch.tensor([5])
    for target in (M.Target("class", 0), M.Target("unit", 3)):
        d = M.target_gradient(m, x, length, target, "through_time")
        v = torch.randn_like(x)
        eps = 1e-6
        with torch.no_grad():
            fd = (M.response(m, x + eps * v, length, target) - M.response(m, x - eps * v, length, target)) / (2 * eps)
        assert abs(float(fd) - float((d * v).sum())) < 1e-6


@pytest.mark.fast
@pytest.mark.parametrize("gradient", ["through_time", "local"])
def test_small_constrained_step_increases_response_and_keeps_skeleton_valid(poses, gradient):
    x, length = poses
    m = _model("lstm", 1, seed=1)
    cs = C.constraint_set(KINECT_V2)
    target = M.Target("class", 2) if gradient == "through_time" else M.Target("unit", 0, layer=0)
    res = M.activation_maximization(m, x[:2], length[:2], target, cs, iterations=2, step=0.01, gradient=gradient)
    if gradient == "through_time":
        assert np.all(np.diff(res.response, axis=1) > 0), res.response
    assert res.max_bone_error.max() <= 1e-4
    assert res.max_angle_violation_deg.max() <= 0.1
    assert res.snapshots.shape == (2, 3) + x.shape[1:]
    # padding stays zero
    assert np.abs(res.snapshots[1, :, int(length[1]):]).max() == 0.0
    # unconstrained from the same start: same snapshot 0, larger bone errors afterwards
    unc = M.activation_maximization(m, x[:2], length[:2], target, cs, constrained=False, iterations=2,
                                    step=0.01, gradient=gradient)
    np.testing.assert_allclose(unc.snapshots[:, 0], res.snapshots[:, 0])
    assert unc.max_bone_error[:, -1].max() > 1e-3


@pytest.mark.fast
def test_infeasible_start_is_reported_and_handled(poses):
    x, length = poses
    m = _model()
    cs = C.constraint_set(KINECT_V2)
    bad = C.describe_violations(x[0, : length[0]], cs)
    assert bad, "the synthetic start should break some limit (else this test checks nothing)"
    rep = M.activation_maximization(m, x[:1], length[:1], M.Target("class", 0), cs, iterations=1, step=0.01)
    assert rep.start_violations[0] == bad
    assert rep.max_angle_violation_deg.max() <= 0.1           # repaired: valid from the start
    skip = M.activation_maximization(m, x[:1], length[:1], M.Target("class", 0), cs, iterations=1, step=0.01,
                                     infeasible_start="skip")
    np.testing.assert_allclose(skip.snapshots[0, 0], x[0])   # start kept as recorded
    off = ~skip.enabled[0, : length[0]]
    assert off.any()
    # the limits left on still hold
    viol = C.angle_violation_deg(skip.snapshots[0, -1, : length[0]], cs)
    assert float((viol * ~off).max()) <= 0.1


@pytest.mark.fast
def test_channel_data_runs_unconstrained():
    m = RecurrentClassifier(22, 6, 2).double().eval()
    x = np.random.default_rng(0).normal(size=(1, 8, 22, 1))
    res = M.activation_maximization(m, x, [8], M.Target("class", 1), None, iterations=3, step=0.05,
                                    gradient="through_time")
    assert res.response[0, -1] > res.response[0, 0]
    assert res.max_bone_error.max() == 0.0


@pytest.mark.slow
def test_maximize_rule_writes_the_contract(tiny_run):
    path = tiny_run / "results" / "tiny" / "maximize" / "lstm.h5"
    data = tiny_run / "results" / "tiny" / "data.h5"
    ds = read_dataset(data)
    result = read_maximization_file(path)
    assert result["attrs"]["data"].endswith("data.h5") and result["attrs"]["model"].endswith("lstm.pt")
    assert result["attrs"]["classes"] == ds.classes and result["attrs"]["params"]["gradient"] == "through_time"
    kinds = [e["target_kind"] for e in result["entries"]]
    assert kinds.count("class") >= len(ds.classes) and "unit" in kinds
    for e in result["entries"]:
        con, unc = e["constrained"], e["unconstrained"]
        s = con["snapshots"]
        n_it = len(con["response"])
        assert s.dtype == np.float32 and s.shape[0] == n_it and s.shape[2:] == (25, 3)
        assert con["max_bone_error"].max() <= 1e-4
        assert con["max_angle_violation_deg"].max() <= 0.1
        assert unc["max_bone_error"].max() > 1e-4
        # un-normalised body frame: spine length (base -> shoulder) about the sample's scale
        sl = np.linalg.norm(s[0, :, 20] - s[0, :, 0], axis=-1).mean()
        assert 0.7 * ds.scale[e["sample_index"]] < sl < 1.3 * ds.scale[e["sample_index"]]
    figs = tiny_run / "results" / "tiny" / "figures" / "lstm"
    for name in ("03_fig2_constraints.png", "03_fig5_iterations.png", "03_curves.png", "03_animation.gif"):
        assert (figs / name).stat().st_size > 1000


# ----------------------------------------------- plausible set and the penalty variant (issue 19)

def _plausible_runs(poses, weights=(1.0, 1.0), iterations=6, step=0.15):
    x, length = poses
    m = _model("lstm", 1, seed=2)
    plaus = C.constraint_set(KINECT_V2, **C.CONSTRAINT_SETS["plausible"])
    kw = {"iterations": iterations, "step": step, "gradient": "through_time"}
    target = M.Target("class", 1)
    proj = M.activation_maximization(m, x[:2], length[:2], target, plaus, max_acceleration="start", **kw)
    pen = M.activation_maximization(m, x[:2], length[:2], target, plaus, max_acceleration="start",
                                    penalty_weights=weights, **kw)
    L = np.stack([C.mean_bone_lengths(x[n], int(length[n]), plaus.bones) for n in range(2)])
    ref = (L, pen.floor_y, pen.acceleration_bound, x[:2])  # the raw starts: L and the per-frame bone reference
    return proj, pen, plaus, ref, length[:2]


@pytest.mark.fast
def test_plausible_projection_keeps_every_constraint_through_the_climb(poses):
    proj, _pen, plaus, ref, length = _plausible_runs(poses)
    assert np.all(proj.response[:, -1] > proj.response[:, 0])
    assert proj.max_bone_error.max() <= 1e-4 and proj.max_angle_violation_deg.max() <= 0.1
    assert proj.max_support_violation.max() <= 1e-9 and proj.max_interpenetration.max() <= 1e-9
    assert proj.max_floor_violation.max() <= 1e-9
    assert np.all(proj.max_acceleration[:, 1:] <= proj.acceleration_bound[:, None] + 1e-9)
    rates = M.violation_rates(proj.snapshots[:, -1], length, plaus, *ref)
    # the guarantee is against the sequence's mean bone lengths (the projection's target), not the
    # raw start's per-frame lengths (bone_error_vs_start_rate), which the repair equalises
    assert all(v == 0 for k, v in rates.items() if k.endswith("_rate") and k != "bone_error_vs_start_rate"), rates


@pytest.mark.fast
def test_bone_error_vs_start_counts_what_the_method_changed(poses):
    """bone_error_vs_start_rate measures every frame against the same frame of the raw start (the
    attack papers' measure): a start returned unchanged has none, however noisy its per-frame bone
    lengths (which the rate against the sequence mean counts), and one bone lengthened by 2% in
    one frame is exactly that frame."""
    x, length = poses
    x, length = x[:2].copy(), length[:2]
    plaus = C.constraint_set(KINECT_V2, **C.CONSTRAINT_SETS["plausible"])
    rng = np.random.default_rng(5)
    for n in range(2):  # per-frame bone noise of a few percent, as in Kinect recordings
        x[n, :length[n]] += rng.normal(scale=0.02, size=x[n, :length[n]].shape)
    L = np.stack([C.mean_bone_lengths(x[n], int(length[n]), plaus.bones) for n in range(2)])
    floor = np.array([C.floor_height(x[n], plaus, int(length[n])) for n in range(2)])
    ref = (L, floor, np.full(2, np.inf), x)
    same = M.violation_rates(x, length, plaus, *ref)
    assert same["bone_error_vs_start_rate"] == 0.0
    assert same["bone_error_vs_mean_rate"] > 0.5, same     # the recording's own noise, against the mean
    # a leaf bone (its end joint is in no other bone) 2% longer in frame 3 of sequence 1
    bones = np.asarray(plaus.bones).reshape(-1, 2)
    counts = np.bincount(bones.ravel(), minlength=x.shape[2])
    a, b = next((int(p), int(c)) for p, c in bones if counts[c] == 1)
    y = x.copy()
    y[1, 3, b] = y[1, 3, a] + 1.02 * (y[1, 3, b] - y[1, 3, a])
    one = M.violation_rates(y, length, plaus, *ref)
    assert one["bone_error_vs_start_rate"] == pytest.approx(1 / int(length.sum()))
    assert one["frames"] == int(length.sum())
    y[1, 4, b] = y[1, 4, a] + 1.005 * (y[1, 4, b] - y[1, 4, a])  # 0.5%: below the 1% threshold
    assert M.violation_rates(y, length, plaus, *ref)["bone_error_vs_start_rate"] == pytest.approx(1 / int(length.sum()))


@pytest.mark.fast
def test_penalty_variant_has_no_projection(poses):
    """Soft penalties (SMART-like) leave violations that the projected variant does not; without
    weights the penalty variant is the unconstrained climb step for step."""
    proj, pen, plaus, ref, length = _plausible_runs(poses)
    rp = M.violation_rates(proj.snapshots[:, -1], length, plaus, *ref)
    rq = M.violation_rates(pen.snapshots[:, -1], length, plaus, *ref)
    assert rq["angle_rate"] + rq["bone_error_vs_mean_rate"] + rq["acceleration_rate"] > 0, rq
    assert rp["angle_rate"] == rp["bone_error_vs_mean_rate"] == rp["acceleration_rate"] == 0, rp
    assert pen.start_violations == proj.start_violations          # both report the same start
    np.testing.assert_allclose(pen.snapshots[:, 0], poses[0][:2])  # ... but the penalty start is not repaired
    x, _ = poses
    zero = M.activation_maximization(_model("lstm", 1, seed=2), x[:2], length, M.Target("class", 1), plaus,
                                     iterations=2, step=0.15, gradient="through_time", penalty_weights=(0.0, 0.0))
    free = M.activation_maximization(_model("lstm", 1, seed=2), x[:2], length, M.Target("class", 1), None,
                                     iterations=2, step=0.15, gradient="through_time")
    np.testing.assert_allclose(zero.snapshots, free.snapshots, atol=1e-12)
    # a heavier penalty lowers the bone error it penalises
    _p, heavy, *_ = _plausible_runs(poses, weights=(100.0, 100.0))
    assert heavy.max_bone_error[:, -1].max() < pen.max_bone_error[:, -1].max()


@pytest.mark.fast
def test_comparison_table_and_runs_round_trip(tmp_path, poses):
    from types import SimpleNamespace
    x, length = poses
    m = _model("lstm", 1, seed=2)
    plaus = C.constraint_set(KINECT_V2, **C.CONSTRAINT_SETS["plausible"])
    run = M.activation_maximization(m, x[:2], length[:2], M.Target("class", 1), plaus, iterations=1, step=0.05,
                                    gradient="through_time", max_acceleration="start")
    ds = SimpleNamespace(scale=np.array([2.0, 3.0]), sample_id=np.array(["a", "b"]), length=length[:2],
                         topology="kinect_v2")
    rows = [{"variant": "plausible", "weight": None, "response_gain": 0.5, "bone_error_vs_start_rate": 1.0,
             "bone_error_vs_mean_rate": 0.0, "angle_rate": 0.0,
             "acceleration_rate": 0.0, "interpenetration_rate": 0.0, "floating_rate": 0.0, "below_floor_rate": 0.0,
             "seconds": 1.0, "frames": int(length[:2].sum())}]
    M.write_comparison(tmp_path / "lstm_comparison.csv", rows, {"plausible": run}, ds, [M.Target("class", 1)] * 2,
                       [0, 1])
    table = M.read_comparison(tmp_path / "lstm_comparison.csv")
    assert list(table.columns) == list(M.COMPARISON_COLUMNS) and table["variant"].tolist() == ["plausible"]
    back = M.read_comparison_runs(tmp_path / "lstm_comparison.h5")
    np.testing.assert_allclose(back["plausible"]["snapshots"][1], run.snapshots[1] * 3.0, rtol=1e-6)
    assert back["attrs"]["sample_id"] == ["a", "b"] and back["attrs"]["targets"] == ["class 1", "class 1"]


@pytest.mark.fast
def test_fig5_paper_vs_plausible_shows_the_frame_where_the_sets_differ_most(poses):
    """most_different_frame: the frame with the largest single-joint distance between the two
    results (frame 3, one joint 0.5 apart), not the one with the largest total change (frame 1,
    every joint 0.3 apart) nor the one where the paper's result floats highest (frame 0); the
    figure's title names it."""
    import matplotlib
    matplotlib.use("Agg")
    from skelvis.plots import maximize as mp
    x, _ = poses
    T = 6
    paper = x[0, :T].copy()
    paper[0, :, 1] += 1.0                      # the paper's result floats highest in frame 0 ...
    plaus = paper.copy()                       # ... where both sets give the same pose
    plaus[1] += np.array([0.3, 0.0, 0.0])      # every joint 0.3 apart
    plaus[3, 5] += np.array([0.0, 0.3, 0.4])   # one joint 0.5 apart
    assert mp.most_different_frame(paper, plaus) == (3, pytest.approx(0.5))
    assert mp.most_different_frame(paper, paper)[0] == 0          # identical: the first frame, distance 0
    with pytest.raises(ValueError):
        mp.most_different_frame(paper, plaus[:-1])
    start = x[0, :T]
    runs = {"attrs": {"length": np.array([T]), "targets": ["class 1"], "sample_id": ["a"]},
            "unconstrained": {"snapshots": np.stack([start, start])[None], "response": np.zeros((1, 2))}}
    for k, last in (("paper", paper), ("plausible", plaus)):
        runs[k] = {"snapshots": np.stack([start, last])[None], "response": np.zeros((1, 2))}
    fig = mp.plausible_figure(runs, KINECT_V2, 0)
    assert "frame 3: where the two results differ most (a joint 0.500 apart)" in fig._suptitle.get_text()
    assert all(ax.get_title().startswith(f"'{k}' set, frame 3") for ax, k in zip(fig.axes, ("paper", "plausible")))


@pytest.mark.fast
def test_fig5_shows_the_named_class_only_where_the_sets_differ(poses):
    """most_different_target: the first target of the class Figs. 2 and 5 show when the two sets
    move one of its joints by at least min_distance; else the target where they differ most, and
    the reason for the figure's title."""
    from skelvis.plots import maximize as mp
    x, _ = poses
    T = 6
    start = x[0, :T]
    shifts = {"throw": 0.004, "kick": 0.3, "bow": 0.1}     # largest joint distance per target
    runs = {"attrs": {"length": np.array([T, T, T]), "targets": list(shifts), "sample_id": ["a", "b", "c"]}}
    paper = np.stack([np.stack([start, start])] * 3)
    plaus = paper.copy()
    for k, d in enumerate(shifts.values()):
        plaus[k, -1, 2, 0, 0] += d                     # frame 2, joint 0, x
    runs["paper"], runs["plausible"] = {"snapshots": paper}, {"snapshots": plaus}
    k, why = mp.most_different_target(runs, prefer="throw")
    assert k == 1 and "'throw'" in why and "0.004" in why
    assert mp.most_different_target(runs, prefer="bow") == (2, "")
    assert mp.most_different_target(runs, prefer="throw", min_distance=0.001) == (0, "")
    k, why = mp.most_different_target(runs, prefer="mop")
    assert k == 1 and "not in the file" in why


@pytest.mark.fast
def test_start_repair_is_recorded_and_summarised(poses, tmp_path):
    """The repair's per-frame displacement is the largest joint move from the raw start to the
    repaired snapshot 0 (none for the penalty variant, which does not repair); the file keeps it
    in body-frame units; summarize_repair / repair_line count the moved and the broken frames."""
    from types import SimpleNamespace
    x, length = poses
    x = x[:2].copy()
    x[0, 3, 7] += np.array([0.0, 0.6, 0.4])        # a hand far off: frame 3 breaks limits
    plaus = C.constraint_set(KINECT_V2, **C.CONSTRAINT_SETS["plausible"])
    kw = {"iterations": 1, "step": 0.05, "gradient": "through_time", "max_acceleration": "start"}
    res = M.activation_maximization(_model("lstm", 1, seed=2), x, length[:2], M.Target("class", 1), plaus, **kw)
    want = np.linalg.norm(res.snapshots[:, 0] - x, axis=-1).max(-1)
    want[np.arange(x.shape[1])[None] >= length[:2, None]] = 0.0
    np.testing.assert_allclose(res.repair_displacement, want, atol=1e-12)
    assert res.repair_displacement[0, 3] == res.repair_displacement[0].max() > 0.05
    pen = M.activation_maximization(_model("lstm", 1, seed=2), x, length[:2], M.Target("class", 1), plaus,
                                    penalty_weights=(1.0, 1.0), **kw)
    assert pen.repair_displacement is None
    ds = SimpleNamespace(scale=np.array([2.0, 3.0]), sample_id=np.array(["a", "b"]), length=length[:2],
                         label=np.array([1, 1]), classes=["throw", "kick", "x"], topology="kinect_v2")
    M.write_maximization(tmp_path / "m.h5", ds, [M.Target("class", 1)] * 2, [0, 1], res, res, plaus)
    e = M.read_maximization(tmp_path / "m.h5")[0]
    T = int(length[0])
    np.testing.assert_allclose(e["constrained"]["repair_displacement"], want[0, :T] * 2.0, rtol=1e-6)
    s = M.summarize_repair(e["constrained"], T, scale=2.0)
    assert s["max_move_frame"] == 3 and s["max_move"] == pytest.approx(want[0, 3] * 2.0, rel=1e-6)
    assert s["moved"] == int((want[0, :T] > 0.01).sum()) and s["tol"] == pytest.approx(0.02)
    assert 3 in s["broken_frames"] and s["broken_frames"] == sorted(s["broken_frames"])
    assert len(s["broken_frames"]) == len(res.start_violations[0])

    # the summary of hand-made lines and displacements (names with spaces and parentheses)
    run = {"start_violations": ["frame 1: spine_mid >= 160 deg by 3.10, hip_plane <= 90 deg by 12.00",
                                "frame 4: hip_plane <= 90 deg by 1.5e-01",
                                "frame 6: support (a foot within 0.2 trunk lengths of the floor) by 0.0308"],
           "repair_displacement": np.array([0.0, 0.5, 0.001, 0.0, 0.2, 0.0, 0.03, 0.002])}
    s = M.summarize_repair(run, 8, scale=0.5)
    assert s["broken_frames"] == [1, 4, 6] and s["moved"] == 3 and (s["max_move"], s["max_move_frame"]) == (0.5, 1)
    assert list(s["broken"].items()) == [("hip_plane <= 90 deg", 2), ("spine_mid >= 160 deg", 1),
                                         ("support (a foot within 0.2 trunk lengths of the floor)", 1)]
    assert M.repair_line(s) == ("start repaired: 3 of 8 frames moved more than 0.005, up to 0.5 (frame 1); "
                                "3 of 8 frames broke a limit: hip_plane <= 90 deg (2), spine_mid >= 160 deg (1), "
                                "support (a foot within 0.2 trunk lengths of the floor) (1)")
    assert M.repair_line(s, names=1).endswith("hip_plane <= 90 deg (2) and 2 more")
    old = M.summarize_repair({"start_violations": run["start_violations"]}, 8)   # a file from before the field
    assert old["moved"] is None and "not in this file" in M.repair_line(old)
    assert M.repair_line(M.summarize_repair(run, 8, mode="skip")).startswith("start not repaired (infeasible_start: skip)")
