"""The vision tower once per prompt per pass: a GRPO group's G completions share one video, so the tower encodes the
P prompts' videos and every completion row takes its prompt's features (the model's `mm_encoder_outputs`). Row
batches then carry no pixels; a batch with video tokens must come with pixels or features (never neither: the model
would read the placeholders as text)."""

from transformers.modeling_outputs import BaseModelOutputWithPooling

from vauflow.model.inputs import VideoMismatch


def encode_videos(model, batch):
    """Per-video features of `batch` (a tuple, one tensor per video), through PEFT wrappers; with grad where the
    tower or merger trains."""
    return tuple(model.get_video_features(batch["pixel_values_videos"], batch["video_grid_thw"]).pooler_output)


def shared_videos(features, owners, video_rows):
    """`mm_encoder_outputs` for rows that show their owner prompt's videos, in row order: `features` per video of the
    prompt batch, `video_rows` the prompt each of those videos belongs to (build_inputs' `video_rows`)."""
    per_prompt = {}
    for k, prompt in enumerate(video_rows.tolist()):
        per_prompt.setdefault(prompt, []).append(features[k])
    return {"video": BaseModelOutputWithPooling(pooler_output=tuple(f for o in owners for f in per_prompt[o]))}


def forward_inputs(inputs, videos):
    """Model inputs with the videos as precomputed features (`videos`) or as pixels."""
    if videos is not None:
        return {k: v for k, v in inputs.items() if k != "pixel_values_videos"} | {"mm_encoder_outputs": videos}
    if "video_grid_thw" in inputs and "pixel_values_videos" not in inputs:
        raise VideoMismatch("a batch with videos but neither pixels nor precomputed features")
    return inputs
