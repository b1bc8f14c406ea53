"""Frames stage: decode every video once into a cache that every consumer derives its frames from."""

from vauflow.commands import Command, arg, json_value, shard

COMMANDS = [
    Command(
        ("frames", "extract"),
        "decode every video under --videos once into the cache under --out",
        "vauflow.frames.extract:main",
        group_help="frame cache",
        args=(
            arg("--videos", required=True),
            arg("--out", required=True),
            arg("--shard", type=shard, default=(0, 1), help="i/K: this job's share (stable hash of the path)"),
            arg("--budgets", type=json_value, help="JSON {consumer: {fps, min_frames, max_frames, min_pixels, ...}}"),
            arg("--dataset", help="dataset name recorded in the cache (default: the folder name)"),
            arg("--threads", type=int, default=2),
            arg(
                "--codec",
                choices=["raw", "png", "jpeg"],
                default="raw",
                help="how frames are stored: raw (fastest reads), png (lossless, smaller), jpeg (lossy, smallest)",
            ),
            arg("--jpeg-quality", type=int, default=95, choices=range(1, 101), metavar="1-100"),
        ),
    ),
    Command(
        ("frames", "size"),
        "store each consumer's frames of the extracted cache --frames at its own size under --out",
        "vauflow.frames.size:main",
        args=(
            arg("--frames", required=True, help="an extracted cache (vauflow frames extract --out)"),
            arg("--out", required=True),
            arg("--threads", type=int, default=1),
        ),
    ),
]
