"""Frames stage: decode once, derive every consumer's clip exactly; every bad file quarantined with a reason."""

import json
import subprocess

import numpy as np
import pytest

from vauflow.frames.budget import VideoBudget, paper_budgets
from vauflow.frames.cache import FrameCache
from vauflow.frames.extract import list_videos
from vauflow.io import shard_of

from conftest import make_video, run, vauflow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ffmpeg):
    d = tmp_path_factory.mktemp("videos")
    make_video(ffmpeg, d / "good.mp4")
    make_video(ffmpeg, d / "mpeg4.avi", codec=("-c:v", "mpeg4"))
    make_video(ffmpeg, d / "with space ü 日本.mp4")
    make_video(ffmpeg, d / "sub dir" / "a;b $(echo x) 'q'.mkv")
    (d / "zero.mp4").write_bytes(b"")
    (d / "notes.txt").write_text("this is not a video\n")
    make_video(ffmpeg, d / "audio_only.m4a", src="sine=frequency=440:duration=1", codec=("-c:a", "aac"))
    make_video(ffmpeg, d / "single_frame.mp4", extra=("-frames:v", "1"))
    full = make_video(
        ffmpeg, d / ".full_fast.mp4", src="testsrc=size=64x48:rate=8:duration=6", extra=("-movflags", "+faststart")
    )
    data = full.read_bytes()
    (d / "truncated_faststart.mp4").write_bytes(data[: len(data) // 2])
    full.unlink()
    moov_end = make_video(ffmpeg, d / ".moov_end.mp4", src="testsrc=size=64x48:rate=8:duration=4")
    (d / "truncated_moov_at_end.mp4").write_bytes(moov_end.read_bytes()[:2000])
    moov_end.unlink()
    # variable frame rate: timestamps grow quadratically
    make_video(
        ffmpeg,
        d / "vfr.mkv",
        src="testsrc=size=64x48:rate=10:duration=3",
        extra=("-vf", "setpts=N*N/40/TB", "-fps_mode", "passthrough"),
    )
    make_video(ffmpeg, d / "huge.mp4", src="testsrc=size=3840x2160:rate=2:duration=2")
    src = make_video(ffmpeg, d / ".src_rot.mp4", src="testsrc=size=64x48:rate=8:duration=2")
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            str(d / "rotated.mp4"),
        ],
        check=True,
    )
    src.unlink()
    return d


EXPECT_QUARANTINED = {
    "zero.mp4": "empty file",
    "notes.txt": "not a readable media file",
    "audio_only.m4a": "no video stream",
    "single_frame.mp4": "1 frame",
    "truncated_faststart.mp4": "truncated or corrupt",
    "truncated_moov_at_end.mp4": "not a readable media file",
}


@pytest.fixture(scope="module")
def extracted(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "shard-0"
    p = vauflow("frames", "extract", "--videos", corpus, "--out", out)
    return out, p


def test_cli_contract_and_counts(corpus, extracted):
    out, p = extracted
    assert "Traceback" not in p.stdout + p.stderr
    summary = json.loads((out / "summary.json").read_text())
    quarantine = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    index = json.loads((out / "index.json").read_text())
    videos = list_videos(corpus)
    assert summary["videos"] == len(videos) == summary["extracted"] + summary["quarantined"]
    assert summary["quarantined"] == len(quarantine) and summary["extracted"] == len(index)
    assert set(index) | {q["video"] for q in quarantine} == set(videos)


@pytest.mark.parametrize("name, reason", sorted(EXPECT_QUARANTINED.items()))
def test_bad_files_quarantined_with_reason(extracted, name, reason):
    out, _ = extracted
    q = {
        json.loads(line)["video"]: json.loads(line)["reason"]
        for line in (out / "quarantine.jsonl").read_text().splitlines()
    }
    assert name in q, q
    assert reason in q[name] and "\n" not in q[name]


@pytest.mark.parametrize(
    "name",
    [
        "good.mp4",
        "mpeg4.avi",
        "with space ü 日本.mp4",
        "sub dir/a;b $(echo x) 'q'.mkv",
        "vfr.mkv",
        "huge.mp4",
        "rotated.mp4",
    ],
)
def test_good_files_extracted(extracted, name):
    out, _ = extracted
    meta = json.loads((out / "index.json").read_text())[name]
    frames = np.load(out / "frames" / f"{meta['key']}.npy")
    assert frames.dtype == np.uint8 and frames.shape[0] == len(meta["indices"]) >= 2
    assert list(frames.shape[1:3]) == meta["stored_hw"]
    assert frames.std() > 5  # real picture content, not a blank frame


def test_huge_resolution_stored_within_the_largest_budget(extracted):
    out, _ = extracted
    meta = json.loads((out / "index.json").read_text())["huge.mp4"]
    h, w = meta["stored_hw"]
    assert meta["native_hw"] == [2160, 3840]
    assert h * w <= max(b.max_pixels for b in paper_budgets().values()) and abs(w / h - 16 / 9) < 0.02


def test_rotation_applied_like_ffmpeg(extracted, corpus, ffmpeg):
    out, _ = extracted
    meta = json.loads((out / "index.json").read_text())["rotated.mp4"]
    frames = np.load(out / "frames" / f"{meta['key']}.npy")
    raw = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(corpus / "rotated.mp4"), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout
    ref = np.frombuffer(raw, np.uint8).reshape(-1, 64, 48, 3)  # ffmpeg autorotates: 64x48 -> 48 wide, 64 high
    assert meta["native_hw"] == [64, 48] and frames.shape[1:3] == (64, 48)
    assert np.abs(frames[0].astype(int) - ref[meta["indices"][0]].astype(int)).mean() < 3


def test_vfr_uses_real_frame_count_and_timestamps(extracted):
    out, _ = extracted
    meta = json.loads((out / "index.json").read_text())["vfr.mkv"]
    assert meta["total_frames"] == 30
    assert all(b > a for a, b in zip(meta["times"], meta["times"][1:]))


@pytest.mark.parametrize("codec", ["png", "jpeg"])
def test_compressed_cache_smaller_and_png_lossless(corpus, extracted, codec, tmp_path):
    """frames.codec: PNG gives consumers the very pixels of the raw cache; JPEG is close (PSNR >= 30 dB); both take
    less disk than raw, and a consumer decodes only the frames it takes."""
    raw_out, _ = extracted
    out = tmp_path / "shard-0"
    vauflow("frames", "extract", "--videos", corpus, "--out", out, "--codec", codec, "--jpeg-quality", "90")
    assert json.loads((out / "summary.json").read_text())["storage"].startswith(codec)
    raw, enc = FrameCache([raw_out]), FrameCache([out])
    assert raw.entries.keys() == enc.entries.keys() and raw.quarantined == enc.quarantined
    budget = VideoBudget(fps=1.0, min_pixels=16 * 28 * 28, max_pixels=768 * 28 * 28)
    for ds, rel in raw.entries:
        a, b = raw.clip(ds, rel, budget), enc.clip(ds, rel, budget)
        assert a.indices == b.indices and a.frames.shape == b.frames.shape and b.frames.dtype == np.uint8
        if codec == "png":
            assert np.array_equal(a.frames, b.frames), rel
        else:
            mse = np.mean((a.frames.astype(float) - b.frames.astype(float)) ** 2)
            assert 0 < mse and 10 * np.log10(255**2 / mse) >= 30, rel
    size = {d: sum(f.stat().st_size for f in (d / "frames").iterdir()) for d in (raw_out, out)}
    assert size[out] < size[raw_out] / 2, size
    assert all(f.suffix == ".npz" for f in (out / "frames").iterdir())


def test_usage_error_is_one_line(tmp_path):
    p = vauflow("frames", "extract", "--videos", tmp_path / "nope", "--out", tmp_path / "o", check=False)
    assert p.returncode != 0 and p.stderr.strip().count("\n") == 0 and "not a directory" in p.stderr
    p = vauflow("frames", "extract", "--videos", tmp_path, "--out", tmp_path / "o", "--shard", "3/2", check=False)
    assert p.returncode != 0 and "Traceback" not in p.stderr


def test_sharding_partitions_the_videos(corpus, tmp_path):
    k = 3
    seen = []
    for i in range(k):
        vauflow("frames", "extract", "--videos", corpus, "--out", tmp_path / f"s{i}", "--shard", f"{i}/{k}")
        s = json.loads((tmp_path / f"s{i}" / "summary.json").read_text())
        idx = json.loads((tmp_path / f"s{i}" / "index.json").read_text())
        q = [json.loads(line)["video"] for line in (tmp_path / f"s{i}" / "quarantine.jsonl").read_text().splitlines()]
        assert s["videos"] == len(idx) + len(q)
        assert all(shard_of(v, k) == i for v in [*idx, *q])
        seen += [*idx, *q]
    assert sorted(seen) == list_videos(corpus)


@pytest.mark.parametrize("consumer", sorted(paper_budgets()))
def test_derived_clip_equals_direct_decode(consumer, ffmpeg, tmp_path, monkeypatch):
    """Cache -> consumer clip vs qwen_vl_utils decoding the file itself at that budget; the sized cache's clip too."""
    monkeypatch.setenv("FORCE_QWENVL_VIDEO_READER", "decord")
    import torch
    from qwen_vl_utils import vision_process as vp
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    video = make_video(ffmpeg, tmp_path / "v dir" / "clip.mp4", src="testsrc2=size=320x240:rate=30:duration=7")
    vauflow("frames", "extract", "--videos", video.parent, "--out", tmp_path / "cache")
    budget = paper_budgets()[consumer]
    clip = FrameCache([tmp_path / "cache"]).clip("v dir", "clip.mp4", budget)
    ele = {
        "video": str(video),
        "fps": budget.fps,
        "min_frames": budget.min_frames,
        "max_frames": budget.max_frames,
        "min_pixels": budget.min_pixels,
        "max_pixels": budget.max_pixels,
        "total_pixels": budget.total_pixels,
    }
    (ref, meta), sample_fps = vp.fetch_video(ele, return_video_sample_fps=True, return_video_metadata=True)
    assert clip.indices == list(meta["frames_indices"])
    assert clip.sample_fps == pytest.approx(sample_fps, rel=1e-9)
    assert clip.second_per_grid_ts == pytest.approx(2 / sample_fps, rel=1e-9)
    assert tuple(ref.shape[2:]) == clip.resized_hw
    ours = TF.resize(
        torch.from_numpy(clip.frames).permute(0, 3, 1, 2),
        list(clip.resized_hw),
        interpolation=InterpolationMode.BICUBIC,
        antialias=True,
    ).float()
    assert (ours - ref).abs().max().item() <= 1.0
    vauflow("frames", "size", "--frames", tmp_path / "cache", "--out", tmp_path / "sized")
    sized = FrameCache([tmp_path / "sized"]).clip("v dir", "clip.mp4", budget)
    assert torch.equal(torch.from_numpy(sized.frames).permute(0, 3, 1, 2).float(), ours)


def test_budget_rejects_too_short():
    with pytest.raises(ValueError):
        VideoBudget(fps=2.0).indices(1, 30.0)


def test_data_stages_never_import_torch(corpus, tmp_path):
    code = (
        "import sys; from vauflow.cli import main;"
        f"main(['frames', 'extract', '--videos', {str(corpus)!r}, '--out', {str(tmp_path / 'c')!r}]);"
        "from vauflow.vaubench import build, link; from vauflow.synth import ball, vau; from vauflow import download;"
        "assert 'torch' not in sys.modules, 'torch imported'; print('no torch')"
    )
    p = run(["python", "-c", code])
    assert "no torch" in p.stdout


@pytest.mark.parametrize(
    "frames, hw",
    [((37, 240, 320), (168, 224)), ((4, 240, 320), (392, 532)), ((6, 64, 64), (56, 56)), ((5, 56, 84), (56, 84))],
)
def test_resize_is_qwen_vl_utils_torchvision_call_bit_for_bit(frames, hw):
    """vauflow.frames.resize (contiguous float, 16 frames at a time) against the call qwen_vl_utils makes on uint8
    frames; control: the same interpolation without antialiasing differs."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    from vauflow.frames.resize import resize

    video = np.random.default_rng(0).integers(0, 256, (*frames, 3), dtype=np.uint8)
    ref = TF.resize(torch.from_numpy(video).permute(0, 3, 1, 2), list(hw), InterpolationMode.BICUBIC, antialias=True)
    ours = resize(video, hw)
    assert ours.dtype == torch.uint8 and torch.equal(ours.permute(0, 3, 1, 2), ref)
    if hw != frames[1:]:
        plain = TF.resize(
            torch.from_numpy(video).permute(0, 3, 1, 2), list(hw), InterpolationMode.BICUBIC, antialias=False
        )
        assert not torch.equal(plain, ref)


@pytest.fixture(scope="module")
def sized(extracted):
    native, _ = extracted
    out = native.parent / "sized-0"
    return out, vauflow("frames", "size", "--frames", native, "--out", out)


def test_sized_cache_holds_each_consumers_clip_resized(extracted, sized):
    """Every consumer's clip from the sized cache = its clip from the extracted cache, resized; counts reconcile."""
    from vauflow.frames.resize import resize
    from vauflow.io import UsageError

    native, _ = extracted
    out, p = sized
    summary = json.loads((out / "summary.json").read_text())
    assert summary["videos"] == summary["extracted"] + summary["quarantined"]
    assert summary["extracted"] == len(json.loads((native / "index.json").read_text())) > 5
    assert f"{summary['extracted']} sized for infer_qa, infer_tag, train" in p.stdout
    a, b = FrameCache([native]), FrameCache([out])
    assert sorted(a.entries) == sorted(b.entries) and a.quarantined == b.quarantined
    budgets = paper_budgets()
    files = list((out / "frames").iterdir())
    assert len(files) == len(budgets) * summary["extracted"]
    for ds, rel in sorted(b.entries):
        for budget in budgets.values():
            want, got = a.clip(ds, rel, budget), b.clip(ds, rel, budget)
            assert got.frames.shape[1:3] == got.resized_hw == want.resized_hw
            assert np.array_equal(got.frames, resize(want.frames, want.resized_hw).numpy()), rel
            assert (got.indices, got.times, got.sample_fps) == (want.indices, want.times, want.sample_fps)
    with pytest.raises(UsageError, match="is none of them") as e:
        b.clip(*sorted(b.entries)[0], VideoBudget(fps=3.0))
    assert "\n" not in str(e.value)
    again = vauflow("frames", "size", "--frames", out, "--out", out.parent / "twice", check=False)
    assert again.returncode == 2 and "already sized" in again.stderr


@pytest.mark.parametrize(
    "rate, extra, total",
    # 8 fps, 31 frames: the union of 32 announced frames is all 32; of 31, an even 30 of them: it shrinks, no re-decode
    [(25, 1, 100), (25, 2, 100), (8, 1, 31)],
)
def test_a_header_that_miscounts_still_stores_the_recounted_frames(ffmpeg, tmp_path, monkeypatch, rate, extra, total):
    """A container announcing `extra` frames more than decode (within 2 %): the indices are recomputed from the real
    count, decoding again if needed or keeping the rows of the smaller set. The .npy written while decoding holds
    exactly the recounted frames (the same as a correct header gives) and nothing else is left in the cache."""
    from vauflow.frames import extract

    make_video(ffmpeg, tmp_path / "v" / "clip.mp4", src=f"testsrc=size=64x48:rate={rate}:duration={total / rate}")
    budgets = paper_budgets() if rate == 25 else {"every": VideoBudget(fps=rate, max_frames=10_000)}
    extract.extract_dir(tmp_path / "v", tmp_path / "right", budgets=budgets)
    probe = extract.probe
    monkeypatch.setattr(extract, "probe", lambda p: (*probe(p)[:2], probe(p)[2] + extra, probe(p)[3]))
    extract.extract_dir(tmp_path / "v", tmp_path / "wrong", budgets=budgets)
    right, wrong = (json.loads((tmp_path / d / "index.json").read_text())["clip.mp4"] for d in ("right", "wrong"))
    assert wrong["total_frames"] == right["total_frames"] == total and wrong["indices"] == right["indices"]
    files = list((tmp_path / "wrong" / "frames").iterdir())
    assert [f.name for f in files] == [f"{wrong['key']}.npy"]
    assert np.array_equal(np.load(files[0]), np.load(tmp_path / "right" / "frames" / files[0].name))
