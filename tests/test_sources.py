"""Source stage: http download against a local server on 127.0.0.1 (good / bad checksum,
interrupted transfer, retry), missing sha256, safe extraction (zip-slip refused), local paths."""
import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile

import pytest

from skelvis.datasets.sources import SourceError, fetch_http, safe_extract, stage_local

PAYLOAD = os.urandom(200_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    fails_left = 0  # requests to cut short before serving the whole file
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        if type(self).fails_left > 0 or self.path.startswith("/always_cut"):
            type(self).fails_left -= 1
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])  # interrupted transfer
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(PAYLOAD)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    _Handler.fails_left, _Handler.requests = 0, 0
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.fast
def test_good_checksum(server, tmp_path):
    dest = tmp_path / "d" / "data.bin"
    fetch_http(f"{server}/data.bin", dest, SHA, retries=0, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert os.listdir(dest.parent) == ["data.bin"]


@pytest.mark.fast
def test_bad_checksum_leaves_nothing(server, tmp_path):
    dest = tmp_path / "data.bin"
    with pytest.raises(SourceError, match="sha256 mismatch"):
        fetch_http(f"{server}/data.bin", dest, "0" * 64, retries=2, backoff=0)
    assert _Handler.requests == 1  # a complete but different file is not retried
    assert list(tmp_path.iterdir()) == []


@pytest.mark.fast
def test_interrupted_then_retry_succeeds(server, tmp_path):
    _Handler.fails_left = 2
    dest = tmp_path / "data.bin"
    fetch_http(f"{server}/data.bin", dest, SHA, retries=3, backoff=0)
    assert dest.read_bytes() == PAYLOAD and _Handler.requests == 3


@pytest.mark.fast
def test_interrupted_every_time_fails_clean(server, tmp_path):
    dest = tmp_path / "data.bin"
    with pytest.raises(SourceError, match="after 3 attempt"):
        fetch_http(f"{server}/always_cut", dest, SHA, retries=2, backoff=0)
    assert _Handler.requests == 3 and list(tmp_path.iterdir()) == []


@pytest.mark.fast
def test_missing_sha256_refused_before_download(server, tmp_path):
    for bad in ("", "FILL_ME", "abc"):
        with pytest.raises(SourceError, match="no valid sha256"):
            fetch_http(f"{server}/data.bin", tmp_path / "x", bad, key="data.auslan.sha256")
    assert _Handler.requests == 0


@pytest.mark.fast
def test_404_fails(server, tmp_path):
    with pytest.raises(SourceError, match="download failed"):
        fetch_http(f"{server}/missing", tmp_path / "x", SHA, retries=2, backoff=0)
    assert _Handler.requests == 1  # client errors are not retried


@pytest.mark.fast
def test_zip_slip_refused(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("ok.txt", "fine")
        f.writestr("../../escaped.txt", "owned")
    with pytest.raises(SourceError, match="outside"):
        safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()
    assert not (tmp_path / "out" / "ok.txt").exists()  # checked before anything is written


@pytest.mark.fast
@pytest.mark.parametrize("name,link", [("../up.txt", None), ("/abs.txt", None), ("lnk", "../../etc/passwd")])
def test_tar_traversal_refused(tmp_path, name, link):
    t = tmp_path / "evil.tar.gz"
    with tarfile.open(t, "w:gz") as f:
        info = tarfile.TarInfo(name)
        if link:
            info.type, info.linkname = tarfile.SYMTYPE, link
            f.addfile(info)
        else:
            info.size = 3
            f.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(SourceError):
        safe_extract(t, tmp_path / "out")


@pytest.mark.fast
def test_safe_extract_good_archives(tmp_path):
    z = tmp_path / "good.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a/b.txt", "hello")
    safe_extract(z, tmp_path / "zo")
    assert (tmp_path / "zo" / "a" / "b.txt").read_text() == "hello"
    t = tmp_path / "good.tar.gz"
    with tarfile.open(t, "w:gz") as f:
        info = tarfile.TarInfo("tctodd1/alive-1.tsd")
        info.size = 5
        f.addfile(info, io.BytesIO(b"1\t2\t3"))
    safe_extract(t, tmp_path / "to")
    assert (tmp_path / "to" / "tctodd1" / "alive-1.tsd").read_bytes() == b"1\t2\t3"


@pytest.mark.fast
def test_stage_local_missing_says_where(tmp_path):
    with pytest.raises(SourceError) as e:
        stage_local(tmp_path / "nope", tmp_path / "raw", "ntu60", obtain="request it from the NTU ROSE lab")
    msg = str(e.value)
    assert "Where to get it: request it from the NTU ROSE lab" in msg and "Where to put it" in msg
    assert "data.ntu60.path" in msg and not (tmp_path / "raw").exists()


@pytest.mark.fast
def test_stage_local_folder_and_archive(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.txt").write_text("x")
    out = stage_local(tmp_path / "src", tmp_path / "raw", "d")
    assert (out / "src" / "f.txt").read_text() == "x"
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("inner/g.txt", "y")
    out = stage_local(z, tmp_path / "raw2", "d")
    assert (out / "inner" / "g.txt").read_text() == "y"


@pytest.mark.slow
@pytest.mark.workflow
def test_http_source_rule(tmp_path):
    """fetch -> source -> prepare through snakemake: a bad checksum fails the rule and leaves no
    file; the right one gives data.h5 with the served samples (generic reader)."""
    import functools

    import numpy as np
    import yaml
    from conftest import copy_workflow, run_snakemake

    from skelvis.datasets.generic import write_generic
    from skelvis.datasets.store import read_dataset

    rng = np.random.default_rng(0)
    samples, labels = {}, []
    for i in range(12):
        x = rng.normal(0, 0.05, (8, 25, 3)).astype(np.float32)
        x[:, 20, 1] += 0.5
        x[:, 4, 0] += 0.2
        samples[f"s{i:02d}"] = x
        labels.append({"sample": f"s{i:02d}", "label": ["wave", "kick"][i % 2], "subject": i % 4})
    site = tmp_path / "site"
    write_generic(tmp_path / "mine", samples, labels, "kinect_v2")
    site.mkdir()
    with zipfile.ZipFile(site / "mine.zip", "w") as z:
        for p in (tmp_path / "mine").iterdir():
            z.write(p, f"mine/{p.name}")
    sha = hashlib.sha256((site / "mine.zip").read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        wd = copy_workflow(tmp_path / "wf")
        cfg = yaml.safe_load((wd / "tests/configs/tiny.yaml").read_text())
        cfg["datasets"] = ["mine"]
        cfg["data"] = {"mine": {"source": "http", "url": f"http://127.0.0.1:{httpd.server_address[1]}/mine.zip",
                                "sha256": "f" * 64, "retries": 1, "reader": "generic", "max_frames": 8,
                                "generic": {"validation_subjects": [2], "test_subjects": [3]}}}
        (wd / "config/bad.yaml").write_text(yaml.safe_dump(cfg))
        p = run_snakemake(wd, "results/mine/data.h5", "--configfile", "config/bad.yaml", check=False)
        assert p.returncode != 0
        assert "sha256 mismatch" in (wd / "logs/mine/fetch/mine.zip.log").read_text()
        assert not any((wd / "resources/mine/download").glob("*"))
        cfg["data"]["mine"]["sha256"] = sha
        (wd / "config/good.yaml").write_text(yaml.safe_dump(cfg))
        run_snakemake(wd, "results/mine/data.h5", "--configfile", "config/good.yaml")
    finally:
        httpd.shutdown()
    assert (wd / "resources/mine/download/mine.zip").read_bytes() == (site / "mine.zip").read_bytes()
    ds = read_dataset(wd / "results/mine/data.h5")
    assert len(ds.x) == 12 and ds.classes == ["kick", "wave"] and ds.split.tolist() == [0, 0, 1, 2] * 3
