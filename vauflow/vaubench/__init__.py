"""VAU-Bench stage: normalise annotation CSVs (build) and join them to the frame cache (link); the ball set is
linked the same way; the rehearsal of the paper preset prepares real annotations with placeholder clips."""

from vauflow.commands import Command, arg, json_value

COMMANDS = [
    Command(
        ("vaubench", "build"),
        "normalise annotation CSVs into per-split, per-task JSONL",
        "vauflow.vaubench.build:main",
        group_help="VAU-Bench annotations",
        args=(
            arg("--annotations", required=True),
            arg("--out", required=True),
            arg("--sources", type=json_value, help="JSON {source: {prefix, test_split, dataset}}"),
        ),
    ),
    Command(
        ("vaubench", "link"),
        "join built rows to the frame cache",
        "vauflow.vaubench.link:main_vaubench",
        args=(
            arg("--annotations", required=True, help="output folder of 'vaubench build'"),
            arg("--frames", required=True, nargs="+", help="frame-cache shard folders"),
            arg("--out", required=True),
            arg("--off", nargs="*", default=[], help="datasets switched off: their rows are excluded as such"),
        ),
    ),
    Command(
        ("ball", "link"),
        "join ball rows to the frame cache",
        "vauflow.vaubench.link:main_ball",
        group_help="moving-ball set",
        args=(
            arg("--annotations", required=True),
            arg("--frames", required=True, nargs="+"),
            arg("--out", required=True),
        ),
    ),
    Command(
        ("rehearsal",),
        "the paper preset's rehearsal data: real annotations, placeholder clips",
        "vauflow.vaubench.rehearsal:main",
        args=(
            arg("--source", required=True, help="folder of the public VAU-Bench annotation CSVs"),
            arg("--annotations", required=True, help="output: the rehearsal's train/val/test CSVs"),
            arg("--videos-root", required=True, help="output: one folder of placeholder clips per dataset"),
            arg("--sources", type=json_value, required=True, help="JSON {source: {prefix, test_split, dataset}}"),
            arg("--datasets", nargs="*", default=None, help="write clips only for these datasets (default: all)"),
            arg("--rows-per-split", type=int, required=True),
            arg("--seed", type=int, default=0),
        ),
    ),
]
