"""NTU RGB+D reader: written fixtures (LF/CRLF, zero-body frames, several bodies), the real
files in ../shared/data, agreement of the fast and the naive reader, fuzzing."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skelvis.datasets.ntu import (
    _read_fast,
    main_actor,
    parse_name,
    read_missing_list,
    read_skeleton,
    read_skeleton_naive,
    read_skeletons,
    split_ntu,
)
from skelvis.datasets.prepare import prepare_dataset
from skelvis.errors import DataFormatError


def write_skeleton(path, frames, crlf=False):
    """frames: list of lists of (body_id, xyz (25, 3)). Writes the NTU text format."""
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for bid, xyz in bodies:
            out.append(f"{bid} 0 1 1 1 1 0 0.01 0.02 2")
            out.append("25")
            for j, (x, y, z) in enumerate(xyz):
                out.append(f"{x:.7g} {y:.7g} {z:.7g} 277.4 191.8 1036.2 519.1 -0.2 0.05 0.96 -0.12 2")
    nl = "\r\n" if crlf else "\n"
    path.write_bytes((nl.join(out) + nl).encode())


def _body(rng, scale=1.0):
    return (rng.normal(size=(25, 3)) * scale).astype(np.float32)


@pytest.mark.fast
@pytest.mark.parametrize("crlf", [False, True])
def test_round_trip_bodies_and_empty_frames(tmp_path, crlf):
    rng = np.random.default_rng(1)
    a_id, b_id = 72057594037931101, 72057594037931102
    frames, ref_a, ref_b = [], {}, {}
    for f in range(8):
        bodies = []
        if f == 3:
            frames.append([])  # a frame with zero bodies
            continue
        xa = _body(rng, 0.05) + f * 0.3  # body A moves a lot
        bodies.append((a_id, xa)); ref_a[f] = xa
        if f >= 2:
            xb = _body(rng, 0.01)  # body B appears later and barely moves
            bodies.insert(0, (b_id, xb)); ref_b[f] = xb
        frames.append(bodies)
    p = tmp_path / "S001C002P003R001A010.skeleton"
    write_skeleton(p, frames, crlf)
    sk = read_skeleton(p)
    assert sk.xyz.dtype == np.float32 and sk.xyz.shape == (8, 2, 25, 3)
    assert sk.body_ids.tolist() == [a_id, b_id]  # order of first appearance
    for f, x in ref_a.items():
        np.testing.assert_array_equal(sk.xyz[f, 0], np.float32([[float(f"{v:.7g}") for v in r] for r in x]))
    assert not sk.xyz[3].any() and not sk.xyz[:2, 1].any()  # zeros where absent
    naive = read_skeleton_naive(p)
    np.testing.assert_array_equal(naive.xyz, sk.xyz)
    np.testing.assert_array_equal(_read_fast(p, p.read_bytes()).xyz, sk.xyz)  # no fallback needed
    seq, info = main_actor(sk)
    assert info["chosen_body_id"] == a_id and info["bodies"] == 2 and info["frames_without_body"] == 1
    assert len(seq) == 7  # the frames where A is present


@pytest.mark.fast
def test_names_and_splits():
    m = parse_name("S017C003P020R002A060")
    assert m == {"setup": 17, "camera": 3, "subject": 20, "replication": 2, "action": 60}
    assert split_ntu(m, "xsub", []) == 2 and split_ntu(m, "xview", []) == 0
    assert split_ntu(parse_name("S001C001P002R001A001"), "paper", {2}) == 1
    assert split_ntu(parse_name("S001C001P001R001A001"), "xview", []) == 2


@pytest.mark.fast
def test_reader_filters_actions_and_missing_list(tmp_path):
    rng = np.random.default_rng(2)
    for name in ("S001C001P001R001A001", "S001C001P002R001A002", "S001C001P003R001A055", "S001C001P004R001A003"):
        xs = []
        for f in range(6):
            x = _body(rng, 0.05)
            x[20, 1] += 0.5  # spine shoulder above spine base
            x[4, 0] += 0.2   # shoulders apart
            xs.append([(1, x)])
        write_skeleton(tmp_path / f"{name}.skeleton", xs)
    lst = tmp_path / "missing.txt"
    lst.write_text("header\nheader\n\nS001C001P004R001A003\n")
    assert read_missing_list(lst) == {"S001C001P004R001A003"}
    cfg = {"reader": "ntu", "normalization": "ntu", "max_frames": 8, "ntu": {"benchmark": "paper", "missing_list": str(lst)}}
    ds = prepare_dataset("ntu", cfg, str(tmp_path))
    assert sorted(ds.sample_id) == ["S001C001P001R001A001", "S001C001P002R001A002"]  # A055 and the missing one out
    assert ds.split[list(ds.sample_id).index("S001C001P002R001A002")] == 1
    assert ds.classes == ["drink water", "eat meal/snack"] and ds.topology == "kinect_v2"
    assert ds.extra_attrs["missing_list_excluded"] == 1


@pytest.mark.fast
@pytest.mark.realdata
def test_real_files(shared_data):
    folder = shared_data / "ntu_rgbd_samples"
    files = sorted(folder.glob("*.skeleton"))
    assert len(files) == 10
    crlf = 0
    for p in files:
        raw = p.read_bytes()
        crlf += b"\r\n" in raw
        sk = _read_fast(p, raw)  # the fast path itself, no fallback (raises _Fallback otherwise)
        naive = read_skeleton_naive(p)
        np.testing.assert_array_equal(sk.xyz, naive.xyz)
        lines = raw.decode().splitlines()
        assert sk.num_frames == int(lines[0])
        # frame 1, body 1: body line at 3, joints from line 5 (1-based)
        assert int(lines[2].split()[0]) == int(sk.body_ids[0])
        for j in (0, 11, 24):
            want = np.float32([float(v) for v in lines[4 + j].split()[:3]])
            np.testing.assert_array_equal(sk.xyz[0, 0, j], want)
    assert crlf == 5
    two = read_skeleton(folder / "S001C003P008R002A058.skeleton")
    assert two.num_bodies >= 2
    assert len(read_missing_list(folder / "NTU_RGBD_samples_with_missing_skeletons.txt")) == 302
    assert len(read_missing_list(folder / "NTU_RGBD120_samples_with_missing_skeletons.txt")) == 535


GOOD = None


def _good_text():
    import pathlib
    import tempfile
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d) / "S001C001P001R001A001.skeleton"
        write_skeleton(p, [[(7, _body(rng))], [(7, _body(rng)), (8, _body(rng))], []])
        return p.read_bytes()


@pytest.mark.fast
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["truncate", "garbage", "count", "nan", "huge", "raw", "field", "space", "crlf"]),
       pos=st.integers(0, 10 ** 6), blob=st.binary(max_size=40))
def test_fuzz_fast_equals_naive(tmp_path, kind, pos, blob):
    global GOOD
    GOOD = GOOD or _good_text()
    lines = GOOD.split(b"\n")
    k = pos % len(lines)
    if kind == "truncate":
        text = GOOD[: pos % len(GOOD)]
    elif kind == "garbage":
        text = b"\n".join(lines[:k] + [blob] + lines[k:])
    elif kind == "count":
        text = b"\n".join([str(pos).encode()] + lines[1:]) if pos % 2 else b"\n".join(lines[:1] + [b"5"] + lines[2:])
    elif kind == "nan":
        text = GOOD.replace(b" ", b" nan ", 1 + pos % 50)
    elif kind == "huge":
        text = GOOD.replace(b"277.4", b"1e999", 1).replace(b"\n0", b"\n1e400", 1 + pos % 3)
    elif kind == "space":  # one separator doubled or turned into another whitespace byte
        parts = GOOD.split(b" ")
        k = 1 + pos % (len(parts) - 1)
        sep = [b"  ", b"\t", b" \r", b"\x0b", b" \n"][pos % 5]
        text = b" ".join(parts[:k]) + sep + b" ".join(parts[k:])
    elif kind == "crlf":  # CRLF file with a lone \r, a line without \r or a blob inside a line
        text = GOOD.replace(b"\n", b"\r\n")
        cut = pos % len(text)
        text = text[:cut] + (blob or b"\r") + text[cut:]
    elif kind == "field":
        text = b"\n".join(lines[:k] + [lines[k] + b" 1"] + lines[k + 1:])
    else:
        text = blob
    _assert_readers_agree(tmp_path, text)


def _assert_readers_agree(tmp_path, text):
    """The fast reader, the naive reader and the batch reader (next to a good file) give the same
    arrays, or the same DataFormatError naming file and line."""
    p = tmp_path / "S001C001P001R001A001.skeleton"
    p.write_bytes(text)
    results = []
    for reader in (read_skeleton, read_skeleton_naive):
        try:
            results.append(reader(p))
        except DataFormatError as e:
            assert str(p) in str(e) and e.line is not None
            results.append(str(e))
    good = tmp_path / "S001C001P001R001A002.skeleton"
    good.write_bytes(GOOD)
    try:  # the batch reader (one parser call for both files) must agree as well
        results.append(read_skeletons([good, p])[1])
    except DataFormatError as e:
        results.append(str(e))
    fast, naive, batch = results
    if isinstance(fast, str) or isinstance(naive, str) or isinstance(batch, str):
        assert fast == naive == batch
    else:
        for other in (fast, batch):
            np.testing.assert_array_equal(other.xyz, naive.xyz)
            assert other.body_ids.tolist() == naive.body_ids.tolist()
            np.testing.assert_array_equal(other.present, naive.present)


@pytest.mark.fast
@pytest.mark.parametrize("sep", [b"  ", b"\t", b" \r", b"\r", b"\x0b", b"\x0c", b" \n", b"\n ", b"\x00"])
def test_whitespace_in_every_field_fast_equals_naive(tmp_path, sep):
    """Each space of a body line and of a whole joint line (the parser and split() see other
    fields when a separator is doubled or is another whitespace byte), LF and CRLF."""
    global GOOD
    GOOD = GOOD or _good_text()
    line_start = GOOD.index(b"\n", GOOD.index(b"\n25\n") + 4) + 1  # the second joint line of body 1
    body_start = GOOD.index(b"\n", GOOD.index(b"\n") + 1) + 1     # the first body line
    spaces = [k for k in range(len(GOOD)) if GOOD[k:k + 1] == b" " and
              (line_start <= k < GOOD.index(b"\n", line_start) or body_start <= k < GOOD.index(b"\n", body_start))]
    assert len(spaces) == 11 + 9
    for k in spaces + [line_start, GOOD.index(b"\n", line_start)]:  # and both ends of the joint line
        text = GOOD[:k] + sep + GOOD[k + (GOOD[k:k + 1] == b" "):]
        _assert_readers_agree(tmp_path, text)
        _assert_readers_agree(tmp_path, text.replace(b"\n", b"\r\n"))


@pytest.mark.fast
def test_missing_field_same_space_count_fast_equals_naive(tmp_path):
    """A joint field deleted with both its spaces left (``a  c``): 11 spaces as in a good line,
    but 11 fields for split(); the naive reader names the line, the fast one must agree."""
    global GOOD
    GOOD = GOOD or _good_text()
    line_start = GOOD.index(b"\n", GOOD.index(b"\n25\n") + 4) + 1
    line = GOOD[line_start:GOOD.index(b"\n", line_start)]
    fields = line.split(b" ")
    for k in range(1, len(fields) - 1):
        broken = b" ".join(fields[:k]) + b"  " + b" ".join(fields[k + 1:])
        assert broken.count(b" ") == line.count(b" ")
        _assert_readers_agree(tmp_path, GOOD[:line_start] + broken + GOOD[line_start + len(line):])


@pytest.mark.fast
@pytest.mark.realdata
def test_reader_on_real_folder(shared_data):
    folder = shared_data / "ntu_rgbd_samples"
    cfg = {"reader": "ntu", "normalization": "ntu", "max_frames": 64,
           "ntu": {"benchmark": "xsub", "missing_list": str(folder / "NTU_RGBD_samples_with_missing_skeletons.txt")}}
    ds = prepare_dataset("ntu", cfg, str(folder))
    assert len(ds.x) == 10 and ds.topology == "kinect_v2" and ds.x.shape[2:] == (25, 3)
    assert ds.extra_attrs["bodies_seen"]["2"] >= 1  # the two-person sample
    # cross-subject: performers 1, 8 and 15 train, performer 3 test
    assert ds.split.tolist() == [2 if parse_name(s)["subject"] == 3 else 0 for s in ds.sample_id]
    assert sorted(ds.subject[ds.split == 2].tolist()) == [3, 3]
    # paper setting drops the mutual action A058
    cfg["ntu"] = {"benchmark": "paper", "missing_list": cfg["ntu"]["missing_list"]}
    ds = prepare_dataset("ntu", cfg, str(folder))
    assert "S001C003P008R002A058" not in set(ds.sample_id) and len(ds.x) == 9


@pytest.mark.fast
def test_batch_reader_equals_file_by_file(tmp_path):
    from skelvis.datasets.ntu import read_skeletons
    rng = np.random.default_rng(5)
    paths = []
    for k in range(4):
        p = tmp_path / f"S001C001P001R001A00{k + 1}.skeleton"
        write_skeleton(p, [[(k, _body(rng))] for _ in range(3 + k)], crlf=k % 2 == 1)
        paths.append(p)
    good = read_skeletons(paths)
    for sk, p in zip(good, paths):
        np.testing.assert_array_equal(sk.xyz, read_skeleton_naive(p).xyz)
    # an odd file (nan in x) in the batch: every file still gets the file-by-file answer
    text = paths[2].read_bytes().split(b"\n")
    text[4] = b"nan " + b" ".join(text[4].split()[1:])
    paths[2].write_bytes(b"\n".join(text))
    mixed = read_skeletons(paths)
    for sk, p in zip(mixed, paths):
        np.testing.assert_array_equal(sk.xyz, read_skeleton_naive(p).xyz)
    assert np.isnan(mixed[2].xyz[0, 0, 0, 0]) and np.isfinite(mixed[1].xyz).all()
