"""The hidden-state figures (skelvis.plots.hidden_states): properties a reader relies on."""
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from skelvis.plots.hidden_states import pairs_figure


@pytest.mark.fast
@pytest.mark.parametrize("corner", [(1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)])
def test_pair_names_do_not_overlap_and_stay_in_their_panel(corner):
    """Two classes whose paths end close together near an edge of the map (the default run's
    hand_waving / hand_signal): their two names neither overlap nor leave the panel."""
    rng = np.random.default_rng(0)
    N, T = 40, 12
    label = np.repeat([0, 1], N // 2)
    t = np.linspace(0, 1, T)[None, :, None]
    end = np.asarray(corner)[None, None, :] + 0.03 * label[:, None, None]
    path = (t * end + 0.02 * rng.normal(size=(N, T, 2))).astype(np.float32)
    P = {"path": path, "length": np.full(N, T), "label": label, "split": np.zeros(N, np.int8),
         "classes": ["hand_waving", "hand_signal"]}
    fig = pairs_figure(P, [(0, 1, "test")])
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    names = [a for a in ax.texts if "(20)" in a.get_text()]
    assert len(names) == 2
    boxes = [a.get_window_extent(r) for a in names]
    assert not boxes[0].overlaps(boxes[1]), boxes
    panel = ax.get_window_extent(r)
    for b in boxes:
        assert panel.x0 <= b.x0 and b.x1 <= panel.x1 and panel.y0 <= b.y0 and b.y1 <= panel.y1, (b, panel)
