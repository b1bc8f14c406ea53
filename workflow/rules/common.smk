import json
import sys
from pathlib import Path

from snakemake.utils import min_version

from vauflow.config import ConfigError, validate_config

min_version("9.27")


try:
    validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as e:
    sys.exit(f"vauflow: {e}")


DATASETS = config["datasets"]
SOURCES = config["vaubench"]["sources"]
VAU_DATASETS = sorted({s["dataset"] for s in SOURCES.values()})
SHARDS = list(range(config["frames"]["shards"]))
SYNTH_VAU_DATASETS = [d for d in VAU_DATASETS if DATASETS[d]["origin"] == "synthetic"]
DOWNLOAD_DATASETS = [d for d, v in DATASETS.items() if v["origin"] == "download"]
ANNOTATIONS = config["annotations"]["vaubench"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    shard=r"\d+",


def regex_or_nothing(names):
    """A wildcard constraint matching exactly `names` (or nothing, when empty)."""
    return "|".join(names) if names else "(?!)"


def videos_dir(wildcards):
    """Folder of a dataset's videos: generated, downloaded, or the user's own folder."""
    ds = DATASETS[wildcards.dataset]
    if ds["origin"] == "local":
        return ancient(ds["path"])
    return f"resources/videos/{wildcards.dataset}"


def annotations_dir():
    if ANNOTATIONS["origin"] == "local":
        return ancient(ANNOTATIONS["path"])
    return "resources/annotations/vaubench"


def frame_shards(datasets):
    return [f"results/frames/{d}/shard-{i}" for d in datasets for i in SHARDS]


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
