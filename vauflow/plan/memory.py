"""The memory plan: each GPU job's peak memory per GPU, from the model's architecture and the job's settings, before
any GPU time is spent (`vauflow memory`, and the DAG-time check against a profile's `gpu_mem_gb`).

A job's peak is the largest of its phases (a training step's forward and backward, a rollout's generation, an
evaluation batch's prefill and decoding); each phase is a sum of named terms:
- parameters from the architecture (counted here; a test checks the counts against the real classes on the meta
  device): fp32 masters, gradients and AdamW's two moments for what trains, the autocast cache (a bf16 copy of the
  fp32 weights that require grad, alive while autocast runs), a frozen half-precision reference for full-FT GRPO;
  ZeRO stages shard them as the ZeRO paper counts (DeepSpeed keeps bf16 weights, fp32 masters and moments);
- activations per token and per decoder layer (per patch and per vision block), the bytes autograd keeps for the
  backward pass in Qwen2/Qwen2.5-VL's modeling code: fp32 residual stream under fp32 masters, half-precision
  projections under autocast (ACT_* below: what the modeling code saves, counted with saved-tensor hooks at two
  sequence lengths and three widths); with gradient checkpointing each layer keeps only its input and one layer is
  recomputed at a time;
- the LM head's logits on the completion positions (logits_to_keep) and the fp32 log-softmax over them;
- the KV cache and one layer's prefill at generation.

Validated against a measurement that shares none of this: the peak of torch.profiler's memory events over real SFT
and GRPO steps on CPU (tests/test_memory.py), for the tiny model and a 2-layer model at the 3B's widths. Not
modelled: the CUDA context and allocator fragmentation (`RESERVE_GB` + `RESERVE_SHARE` of the peak, added before the
comparison with a GPU's memory), DeepSpeed's communication buckets."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from vauflow import tasks
from vauflow.frames.budget import VideoBudget
from vauflow.plan.cells import LEARNING_CHECK_BATCH, eval_base, eval_models
from vauflow.plan.runs import grpo_runs, model_folder, run_base, run_tasks, sft_runs
from vauflow.settings import grpo_params, sft_params

GB = 1e9
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
RESERVE_GB = 1.0  # CUDA context, cuBLAS workspaces
RESERVE_SHARE = 0.05  # allocator fragmentation
# the frame a plan assumes for a video of unknown size (the budget caps the pixels; this sets the aspect)
FRAME_HW = (720, 1280)
TEXT_TOKENS = 512  # a prompt's text (system, question, options), an upper bound of the paper prompts
TARGET_TOKENS = {"answer": 128, "think": 512, "both": 512}  # an SFT target's tokens (both: the longer)
PIXEL_VALUES = 3 * 2 * 14 * 14  # floats per patch (channels x temporal patch x patch x patch)

# Bytes autograd keeps per token of one decoder layer, per width unit (hidden, key/value, intermediate), by compute
# dtype: fp32 everywhere, or fp32 masters under bf16 autocast (RMSNorm computes in fp32, projections in bf16)
ACT_TEXT = {4: (34, 8, 16), 2: (32, 4, 8)}
# ... per patch of one vision block (hidden, MLP width): Qwen2.5-VL's SwiGLU blocks and Qwen2-VL's GELU blocks
ACT_VISION = {"qwen2_5_vl": {4: (44.5, 16.4), 2: (28.4, 8)}, "qwen2_vl": {4: (36.6, 12.3), 2: (18.5, 6)}}
ACT_MERGER = {4: 29, 2: 10}  # per patch and vision hidden unit: the merger's norm and MLP
LOGIT_BYTES = 12  # per logit kept: the head's output, its fp32 copy and the log-softmax autograd keeps
# one layer's live tensors at inference (no graph), per token (per patch) and width unit: input, norm, q/k/v or
# gate/up/act
INFER_TEXT = (6, 4, 3)
INFER_VISION = (6, 3)


@dataclass(frozen=True)
class Architecture:
    family: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool
    v_depth: int
    v_hidden: int
    v_intermediate: int
    v_heads: int
    patch: int = 14
    temporal_patch: int = 2
    merge: int = 2

    @property
    def head_dim(self):
        return self.hidden // self.heads

    @property
    def kv(self):
        return self.kv_heads * self.head_dim

    @classmethod
    def from_config(cls, cfg):
        """From a model folder's config.json (transformers 5 nests text_config; 4.x kept the text keys on top)."""
        text = cfg.get("text_config") or cfg
        v = cfg["vision_config"]
        family = cfg["model_type"]
        if family == "qwen2_vl":
            v_hidden, v_mlp = v["embed_dim"], int(v["embed_dim"] * v["mlp_ratio"])
        else:
            v_hidden, v_mlp = v["hidden_size"], v["intermediate_size"]
        return cls(
            family=family,
            hidden=text["hidden_size"],
            intermediate=text["intermediate_size"],
            layers=text["num_hidden_layers"],
            heads=text["num_attention_heads"],
            kv_heads=text["num_key_value_heads"],
            vocab=text["vocab_size"],
            tied=bool(cfg.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
            v_depth=v["depth"],
            v_hidden=v_hidden,
            v_intermediate=v_mlp,
            v_heads=v["num_heads"],
            patch=v.get("patch_size", 14),
            temporal_patch=v.get("temporal_patch_size", 2),
            merge=v.get("spatial_merge_size", 2),
        )

    def config(self, **extra):
        """The transformers config of this shape (random-weight models: the tests' 3B-width model, gpu-smoke)."""
        import transformers

        head = self.head_dim // 2  # M-RoPE sections (temporal, height, width) as the released models split them
        text = {
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "tie_word_embeddings": self.tied,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": [head - 2 * (3 * head // 8), 3 * head // 8, 3 * head // 8],
            },
        }
        vision = {
            "depth": self.v_depth,
            "num_heads": self.v_heads,
            "patch_size": self.patch,
            "temporal_patch_size": self.temporal_patch,
            "spatial_merge_size": self.merge,
        }
        if self.family == "qwen2_5_vl":
            cls = transformers.Qwen2_5_VLConfig
            vision |= {
                "hidden_size": self.v_hidden,
                "intermediate_size": self.v_intermediate,
                "out_hidden_size": self.hidden,
                "fullatt_block_indexes": list(range(7, self.v_depth, 8)),
            }
        else:
            cls = transformers.Qwen2VLConfig
            vision |= {
                "embed_dim": self.v_hidden,
                "mlp_ratio": self.v_intermediate // self.v_hidden,
                "hidden_size": self.hidden,
            }
        return cls(text_config=text, vision_config=vision, tie_word_embeddings=self.tied, **extra)

    def parameters(self):
        """{group: count}: exactly what the transformers classes hold (tested on the meta device)."""
        h, kv, i = self.hidden, self.kv, self.intermediate
        layer = (h * h + h) + 2 * (h * kv + kv) + h * h + 3 * h * i + 2 * h  # q,k,v (bias), o, MLP, 2 RMSNorms
        vh, vi = self.v_hidden, self.v_intermediate
        if self.family == "qwen2_5_vl":  # RMSNorms, SwiGLU MLP with biases
            block = 2 * vh + (3 * vh * vh + 3 * vh) + (vh * vh + vh) + 2 * (vh * vi + vi) + (vi * vh + vh)
            merger_norm = vh
        else:  # LayerNorms, fc1/fc2 with biases
            block = 4 * vh + (3 * vh * vh + 3 * vh) + (vh * vh + vh) + (vh * vi + vi) + (vi * vh + vh)
            merger_norm = 2 * vh
        merged = vh * self.merge**2
        return {
            "embed_tokens": self.vocab * h,
            "lm_head": 0 if self.tied else self.vocab * h,
            "text_layers": self.layers * layer + h,
            "vision_blocks": self.v_depth * block + 3 * self.temporal_patch * self.patch**2 * vh,
            "merger": merger_norm + merged * merged + merged + merged * h + h,
        }

    def total(self):
        return sum(self.parameters().values())

    def linear_shapes(self):
        """(name, in, out) of the language model's projections, named as transformers names them (LoRA targets)."""
        h, kv, i = self.hidden, self.kv, self.intermediate
        per = {
            "self_attn.q_proj": (h, h),
            "self_attn.k_proj": (h, kv),
            "self_attn.v_proj": (h, kv),
            "self_attn.o_proj": (h, h),
            "mlp.gate_proj": (h, i),
            "mlp.up_proj": (h, i),
            "mlp.down_proj": (i, h),
        }
        return [(f"model.language_model.layers.{n}.{k}", a, b) for n in range(self.layers) for k, (a, b) in per.items()]


# vau-r1.md §14: the paper's models before a fetch (a fetched folder's config.json wins)
KNOWN = {
    "Qwen/Qwen2.5-VL-3B-Instruct": Architecture("qwen2_5_vl", 2048, 11008, 36, 16, 2, 151936, True, 32, 1280, 3420, 16),
    "Qwen/Qwen2.5-VL-7B-Instruct": Architecture(
        "qwen2_5_vl", 3584, 18944, 28, 28, 4, 152064, False, 32, 1280, 3420, 16
    ),
    "Qwen/Qwen2-VL-2B-Instruct": Architecture("qwen2_vl", 1536, 8960, 28, 12, 2, 151936, True, 32, 1280, 5120, 16),
}


def architecture(config, name, root="."):
    """A model's architecture: its folder's config.json when there is one, a tiny model's `shape`, or §14."""
    spec = config["models"][name]
    cfg = Path(root) / model_folder(config, name) / "config.json"
    if cfg.is_file():
        return Architecture.from_config(json.loads(cfg.read_text()))
    if spec["source"] == "build":
        s, v = spec["shape"], spec["shape"]["vision"]
        return Architecture(
            spec["family"],
            s["hidden_size"],
            s["intermediate_size"],
            s["num_hidden_layers"],
            s["num_attention_heads"],
            s["num_key_value_heads"],
            s["vocab_size"],
            False,
            v["depth"],
            v["hidden_size"],
            v["intermediate_size"],
            v["num_heads"],
        )
    if spec.get("repo") in KNOWN:
        return KNOWN[spec["repo"]]
    raise ValueError(f"model {name}: no config.json at {cfg} and no known architecture for {spec.get('repo')!r}")


def visual_tokens(budget, frame_hw=FRAME_HW):
    """The most visual tokens (after the 2x2 merge) a video gets under `budget`, over every frame count it allows."""
    b = VideoBudget.from_dict(budget)
    best = 0
    for n in range(max(2, b.min_frames + b.min_frames % 2), b.max_frames + 1, 2):
        h, w = b.resized_hw(*frame_hw, n)
        best = max(best, n // 2 * (h // 28) * (w // 28))
    return best


@dataclass(frozen=True)
class Workload:
    """One micro-batch: `rows` sequences of `text` prompt tokens, `visual` tokens per video (`videos` per row) and
    `completion` scored or generated tokens; `passes_videos`: videos through the tower per pass (GRPO: one per
    prompt, not per completion)."""

    rows: int
    visual: int
    text: int
    completion: int
    videos_per_pass: int
    videos_per_row: int = 1

    @property
    def sequence(self):
        return self.visual * self.videos_per_row + self.text + self.completion


def lora_parameters(arch, lora):
    rx = re.compile(lora["target_regex"])
    adapters = sum(lora["r"] * (a + b) for name, a, b in arch.linear_shapes() if rx.fullmatch(name))
    saved = sum(arch.parameters()[m] if m in arch.parameters() else 0 for m in lora.get("modules_to_save", []))
    if "lm_head" in lora.get("modules_to_save", []) and arch.tied:
        saved += arch.vocab * arch.hidden
    return adapters, saved


def _gb(terms):
    return {k: round(v / GB, 3) for k, v in terms.items() if v}


class Plan:
    """The terms of one job on one GPU. `masters`: fp32 master weights under autocast (our trainers' contract)."""

    def __init__(self, arch, dtype, gpus=1, sharding="multi_gpu", device="cuda"):
        self.arch, self.gpus, self.sharding, self.device = arch, gpus, sharding, device
        self.b = BYTES[dtype]  # compute bytes

    # -- parameters --------------------------------------------------------------------------------------------
    def training_state(self, method, freeze_vision, lora=None, reference=False):
        """{term: bytes} of the weights, gradients, optimizer state and reference; and the trainable count."""
        a, p, n = self.arch, self.arch.parameters(), self.gpus
        total = a.total()
        if method == "lora":
            # the frozen base in the compute dtype (modules_to_save keep their original there too), the adapters and
            # the trained copies of modules_to_save as fp32 masters
            adapters, saved = lora_parameters(a, lora)
            trainable = adapters + saved
            terms = {"weights (frozen base)": self.b * total, "weights (trained, fp32)": 4 * trainable}
        else:
            trainable = total - (p["vision_blocks"] if freeze_vision else 0)
            frozen = total - trainable
            if self.sharding in ("zero3", "zero3_offload"):
                # DeepSpeed: bf16 weights gathered one layer at a time, fp32 masters and moments partitioned (or
                # on the host under offload)
                gathered = 2 * self.b * self.largest_layer()
                on_gpu = 0 if self.sharding == "zero3_offload" else 1
                return {
                    "weights (bf16 partition + gathered layers)": self.b * total / n * on_gpu + gathered,
                    "gradients (partition)": self.b * trainable / n * on_gpu,
                    "masters + AdamW moments (partition)": 12 * trainable / n * on_gpu,
                    "reference": self.b * total if reference else 0,
                }, trainable
            if self.sharding == "fsdp" and n > 1:  # our GRPO's FSDP2: fp32 masters, gradients, moments in shares
                return {
                    "weights (fp32 masters, share)": 4 * total / n,
                    "gradients (share)": 4 * trainable / n,
                    "AdamW moments (share)": 8 * trainable / n,
                    "reference": self.b * total if reference else 0,
                }, trainable
            if self.sharding == "zero2":
                return {
                    "weights (bf16)": self.b * total,
                    "gradients (partition)": self.b * trainable / n,
                    "masters + AdamW moments (partition)": 12 * trainable / n,
                    "reference": self.b * total if reference else 0,
                }, trainable
            terms = {"weights (fp32 masters)": 4 * trainable + 4 * frozen}
        terms["gradients"] = 4 * trainable
        terms["AdamW moments"] = 8 * trainable
        if n > 1:
            terms["DDP gradient buckets"] = 4 * trainable
        if reference and method == "full":
            terms["reference"] = self.b * total
        return terms, trainable

    def largest_layer(self):
        a = self.arch
        return a.parameters()["text_layers"] // a.layers

    # -- activations -------------------------------------------------------------------------------------------
    def text_saved(self, tokens, checkpointing):
        a = self.arch
        ch, ckv, ci = ACT_TEXT[self.b]
        layer = tokens * (ch * a.hidden + ckv * a.kv + ci * a.intermediate)
        if checkpointing:  # each layer keeps its input (the fp32 residual stream), one layer is recomputed
            return a.layers * tokens * 4 * a.hidden + layer
        return a.layers * layer

    def vision_saved(self, patches, trains_tower, trains_merger, checkpointing):
        a = self.arch
        vh, vi = ACT_VISION[a.family][self.b]
        block = patches * (vh * a.v_hidden + vi * a.v_intermediate)
        merger = patches * ACT_MERGER[self.b] * a.v_hidden if trains_merger else 0
        if not trains_tower:
            return self.vision_pass(patches) + merger
        # the patch embedding keeps its input: the pixels themselves in fp32 (counted as inputs), a copy under autocast
        pixels = patches * PIXEL_VALUES * self.b if self.b != 4 else 0
        kept = a.v_depth * patches * 4 * a.v_hidden + block if checkpointing else a.v_depth * block
        return kept + merger + pixels

    def vision_pass(self, patches):
        """One vision block's live tensors without a graph (rollouts, evaluation, a frozen tower)."""
        vh, vi = INFER_VISION
        return patches * self.b * (vh * self.arch.v_hidden + vi * self.arch.v_intermediate)

    def padding_mask(self, rows, tokens, attn):
        """sdpa/eager on a padded batch: transformers builds a (rows, 1, S, S) boolean mask (flash-attn needs none)."""
        return rows * tokens**2 if rows > 1 and attn != "flash_attention_2" else 0

    def logits(self, rows, positions):
        return rows * positions * self.arch.vocab * LOGIT_BYTES

    def kv_cache(self, rows, tokens):
        a = self.arch
        return rows * tokens * a.layers * 2 * a.kv * self.b

    def prefill(self, rows, tokens):
        a = self.arch
        ch, ckv, ci = INFER_TEXT
        return rows * tokens * self.b * (ch * a.hidden + ckv * a.kv + ci * a.intermediate)


def training_job(arch, params, work, stage, gpus=1, device="cuda"):
    """{phase: {term: bytes}} of one SFT or GRPO step (GRPO: the rollout too). `device`: cuda, or cpu (the
    validation: there GRPO's AdamW runs tensor by tensor, see optimizer_temporaries)."""
    plan = Plan(arch, params["dtype"], gpus, params.get("accelerate", "multi_gpu"), device)
    full = params["method"] == "full"
    reference = stage == "grpo" and params.get("beta", 0) > 0
    state, trainable = plan.training_state(
        params["method"], params.get("freeze_vision", False), params.get("lora"), reference
    )
    grads = {k: v for k, v in state.items() if k.startswith("gradients") or k.startswith("DDP")}
    static = {k: v for k, v in state.items() if k not in grads}
    sharded = plan.sharding == "fsdp" and gpus > 1
    gathered = {}
    if sharded:  # the root unit (embeddings, head, merger) stays gathered after its forward; two layers at a time
        p = arch.parameters()
        root = p["embed_tokens"] + p["lm_head"] + p["merger"]
        static["weights gathered (root unit)"] = 4 * root * (gpus - 1) / gpus
        gathered = {"weights gathered (two layers)": 2 * 4 * plan.largest_layer() * (gpus - 1) / gpus}
    half = plan.b < 4
    # autocast keeps a bf16 copy of every fp32 weight that requires grad until it exits (FSDP's gathered ones too)
    cache = (
        {"autocast weight cache (bf16)": 2 * trainable}
        if half and full and plan.sharding in ("multi_gpu", "fsdp")
        else {}
    )
    trains_tower = full and not params.get("freeze_vision", False)
    patches = 4 * work.visual * work.videos_per_pass
    ckpt = params["gradient_checkpointing"]
    chunk = min(work.rows, params.get("logprob_chunk") or work.rows)
    # GRPO's later chunks (and micro-batches) run their forward with the earlier ones' gradients held
    later = stage == "grpo" and chunk < work.rows
    tokens = chunk * work.sequence
    # the tower's graph lives from the first chunk's forward to the last backward (GRPO sends the features'
    # gradients through it once, at the end; SFT's backward reaches it last)
    vision = {"activations (vision)": plan.vision_saved(patches, trains_tower, full, ckpt)}
    acts = {
        "attention mask": plan.padding_mask(chunk, work.sequence, params["attn_implementation"]),
        "activations (text)": plan.text_saved(tokens, ckpt),
        "logits": plan.logits(chunk, work.completion + 1),
    }
    # the pixels of the micro-batch's videos (SFT: accelerate's data loader holds the next batch too)
    inputs = {"inputs (pixels)": patches * PIXEL_VALUES * 4 * (2 if stage == "sft" else 1)}
    # tied embeddings: the input embedding's dense gradient is built whole, then added to the head's
    tied = {"embedding gradient (tied, transient)": 4 * arch.vocab * arch.hidden} if arch.tied and full else {}
    phases = {
        "forward": static | inputs | cache | vision | acts | gathered | (grads if later else {}),
        "backward": static
        | inputs
        | grads
        | tied
        | gathered
        | vision
        | {"activations (text)": plan.text_saved(tokens, True) if ckpt else 0},
        "optimizer step": static | grads | optimizer_temporaries(plan, stage, trainable, full),
    }
    if stage == "grpo" and params.get("beta", 0) > 0:
        # the reference pass (no graph) before each policy chunk: one layer's tensors and its logits
        phases["reference pass"] = (
            static
            | inputs
            | vision
            | (grads if later else {})
            | {
                "prefill (one layer)": plan.prefill(chunk, work.sequence),
                "logits": plan.logits(chunk, work.completion + 1) * 2 // 3,
            }
        )
    if stage == "grpo":  # the rollout: G rows per prompt, the features of the prompt's video shared
        g = work.rows
        prompt = work.visual * work.videos_per_row + work.text
        whole = {"weights gathered for the rollout": 4 * arch.total() * (gpus - 1) / gpus} if sharded else {}
        unsharded = {k: v for k, v in static.items() if k != "weights gathered (root unit)"}  # within `whole`
        phases["rollout"] = (
            unsharded
            | cache
            | whole
            | {
                "KV cache": plan.kv_cache(g, prompt + work.completion),
                "prefill (one layer)": plan.prefill(g, prompt),
                "vision (one block)": plan.vision_pass(patches),
                "attention mask": plan.padding_mask(g, prompt, params["attn_implementation"]),
            }
        )
    return phases


def optimizer_temporaries(plan, stage, trainable, full):
    """AdamW's temporaries at the update: none for the fused kernel (SFT through transformers' adamw_torch_fused;
    GRPO on CUDA); torch's tensor-by-tensor loop (GRPO on CPU) holds two of the largest tensor's size (sqrt, div)."""
    if stage == "sft" or plan.device == "cuda":
        return {}
    a = plan.arch
    largest = max(a.vocab * a.hidden, a.intermediate * a.hidden) if full else a.vocab * a.hidden
    return {"AdamW temporaries (per tensor)": 2 * 4 * largest}


def inference_job(arch, dtype, work, attn="sdpa"):
    plan = Plan(arch, dtype)
    static = {"weights": plan.b * arch.total()}
    prompt = work.visual * work.videos_per_row + work.text
    return {
        "prefill": static
        | {
            "prefill (one layer)": plan.prefill(work.rows, prompt),
            "KV cache": plan.kv_cache(work.rows, prompt),
            # the tower encodes every video of the batch in one pass
            "vision (one block)": plan.vision_pass(4 * work.visual * work.videos_per_row * work.rows),
            "attention mask": plan.padding_mask(work.rows, prompt, attn),
        },
        "decode": static
        | {"KV cache": plan.kv_cache(work.rows, prompt + work.completion), "logits": work.rows * arch.vocab * 4 * 2},
    }


def peak(phases):
    """(peak bytes, the phase it is in, that phase's terms)."""
    name = max(phases, key=lambda k: sum(phases[k].values()))
    return sum(phases[name].values()), name, phases[name]


def needed_gb(peak_bytes):
    """What a GPU must have for a tensor peak: the peak, the CUDA context and fragmentation."""
    return peak_bytes / GB * (1 + RESERVE_SHARE) + RESERVE_GB


# -- the jobs of a config ---------------------------------------------------------------------------------------
def training_workload(params, budget, stage, target, turns=1):
    """`turns`: the most turns of the run's tasks (an SFT example of the reasoning's second turn holds the video
    twice)."""
    visual = visual_tokens(budget)
    if stage == "sft":
        return Workload(
            rows=params["per_device_batch"],
            visual=visual,
            text=TEXT_TOKENS,
            completion=TARGET_TOKENS[target],
            videos_per_pass=params["per_device_batch"] * turns,
            videos_per_row=turns,
        )
    g = params["num_generations"]
    return Workload(
        rows=params["per_device_batch"] * g,
        visual=visual,
        text=TEXT_TOKENS,
        completion=params["max_completion_length"],
        videos_per_pass=params["per_device_batch"],
    )


def plan_config(config, gpus=None, root=".", rules=None):
    """[{rule, run, gpus, peak_gb, phase, terms_gb}] for the GPU jobs of a validated config (of `rules`, default
    all). `gpus`: {rule: N}. A model whose architecture is unknown before its fetch is listed as unplanned."""
    gpus, rules = gpus or {}, rules or GPU_RULES
    budgets = config["frames"]["budgets"]
    jobs = []

    def add(rule, run, model, phases_of):
        try:
            arch = architecture(config, model, root)
        except ValueError as e:
            jobs.append({"rule": rule, "run": run, "gpus": gpus.get(rule, 1), "unplanned": str(e)})
            return
        jobs.append(_job(rule, run, gpus.get(rule, 1), *phases_of(arch)))

    for rule, runs, params_of in (("sft", sft_runs(config), sft_params), ("grpo", grpo_runs(config), grpo_params)):
        for run in runs if rule in rules else []:
            p = params_of(config, run) | {"dtype": config["model"]["dtype"]}
            turns = max(tasks.get(t).turns for t in run_tasks(config, run))
            work = training_workload(p, budgets["train"], rule, p.get("target", "answer"), turns)
            add(
                rule,
                run,
                run_base(config, run),
                lambda arch, p=p, work=work, rule=rule: (training_job(arch, p, work, rule, gpus.get(rule, 1)), work),
            )
    limits = config["eval"]["max_new_tokens"]
    for model, cells in eval_models(config).items() if "evaluate" in rules else []:

        def worst(arch, cells=cells):
            out = None
            for task, _, think in cells:
                t = tasks.get(task)
                work = Workload(
                    rows=config["eval"]["batch_size"],
                    visual=visual_tokens(budgets[t.budget]),
                    text=TEXT_TOKENS,
                    completion=t.limit(think, limits) * t.turns,
                    videos_per_pass=config["eval"]["batch_size"],
                    videos_per_row=t.turns,
                )
                phases = inference_job(arch, config["model"]["dtype"], work, config["model"]["attn_implementation"])
                if out is None or peak(phases)[0] > peak(out[0])[0]:
                    out = (phases, work)
            return out

        add("evaluate", model, eval_base(config, model), worst)
    if config["learning_check"] and "learning_check" in rules:  # every trained model on held-out clips
        # the longest generation (think prompts included) and the most videos per row (the reasoning's two turns)
        checked = [t for t in tasks.TASKS.values() if t.learning]
        turns = max(t.turns for t in checked)
        work = Workload(
            rows=LEARNING_CHECK_BATCH,
            visual=visual_tokens(budgets["train"]),
            text=TEXT_TOKENS,
            completion=max(max(t.learning.max_new_tokens, t.learning.think_tokens) * t.turns for t in checked),
            videos_per_pass=LEARNING_CHECK_BATCH * turns,
            videos_per_row=turns,
        )
        add(
            "learning_check",
            "all",
            config["model"]["base"],
            lambda arch: (
                inference_job(arch, config["model"]["dtype"], work, config["model"]["attn_implementation"]),
                work,
            ),
        )
    return jobs


def _job(rule, run, gpus, phases, work):
    total, phase, terms = peak(phases)
    return {
        "rule": rule,
        "run": run,
        "gpus": gpus,
        "peak_gb": round(total / GB, 2),
        "needs_gb": round(needed_gb(total), 2),
        "phase": phase,
        "terms_gb": _gb(terms),
        "sequence_tokens": work.sequence,
        "rows": work.rows,
    }


def check_fits(jobs, gpu_gb):
    """Each job with "fits" (its need against `gpu_gb`), and the first job that does not, as one line naming the
    settings to change (None when all fit)."""
    refusal = None
    for j in jobs:
        j["gpu_gb"] = gpu_gb
        if "unplanned" in j:
            j["fits"] = None
            continue
        j["fits"] = j["needs_gb"] <= gpu_gb
        if not j["fits"] and refusal is None:
            refusal = (
                f"{j['rule']} {j['run']}: needs ~{j['needs_gb']:.1f} GB per GPU ({j['phase']}: "
                f"{max(j['terms_gb'], key=j['terms_gb'].get)} is the largest term), {gpu_gb:g} GB given; "
                + HINTS[j["rule"]]
            )
    return jobs, refusal


HINTS = {
    "sft": "set sft.gradient_checkpointing, sft.per_device_batch, sft.accelerate (zero3_offload) or sft.method "
    "(lora), or a larger gpu_mem_gb",
    "grpo": "set grpo.logprob_chunk, grpo.gradient_checkpointing, grpo.max_completion_length, grpo.method (lora) "
    "or grpo.per_device_batch, or a larger gpu_mem_gb",
    "evaluate": "set eval.batch_size or the inference frame budgets (frames.budgets.infer_*), or a larger gpu_mem_gb",
    "learning_check": "set frames.budgets.train or learning_check: false, or a larger gpu_mem_gb",
}


GPU_RULES = ("sft", "grpo", "evaluate", "learning_check")


def resource_number(value):
    """A set-resources value as a number: an int or float, a string (an expression of `attempt`: the first attempt
    is planned), or Snakemake's parsed Resource (its raw text, else its value). None when unset or a function."""
    for candidate in (getattr(value, "raw", None), value):
        if hasattr(candidate, "value"):
            try:
                candidate = candidate.value
            except ValueError:  # an expression Snakemake evaluates per job
                continue
        if isinstance(candidate, str):
            try:
                candidate = eval(candidate, {"__builtins__": {}}, {"attempt": 1})  # noqa: S307 (the profile's text)
            except Exception:  # noqa: BLE001 (anything else is not a number of ours)
                continue
        if isinstance(candidate, (int, float)) and not isinstance(candidate, bool):
            return candidate
    return None


def profile_gpus(overwrite_resources):
    """({rule: GPUs}, {rule: GB per GPU}) from Snakemake's set-resources (a profile's or --set-resources')."""
    gpus, memory = {}, {}
    for rule in GPU_RULES:
        for key, into in (("gpu", gpus), ("gpu_mem_gb", memory)):
            value = resource_number((overwrite_resources.get(rule) or {}).get(key))
            if value:
                into[rule] = value
    return gpus, memory


def refusal(config, overwrite_resources, root="."):
    """The DAG-time check: one line naming the first job that cannot fit the `gpu_mem_gb` its rule is given (None
    when every job fits or no rule sets it)."""
    gpus, memory = profile_gpus(overwrite_resources)
    if not memory:
        return None
    jobs = plan_config(config, gpus, root, rules=tuple(memory))
    for j in jobs:
        _, why = check_fits([j], memory[j["rule"]])
        if why:
            return why
    return None


def as_table(jobs):
    lines = ["| rule | run | GPUs | peak GB | needs GB | fits | peak phase | largest terms (GB) |", "|---" * 8 + "|"]
    for j in jobs:
        if "unplanned" in j:
            lines.append(f"| {j['rule']} | {j['run']} | {j['gpus']} | | | ? | | {j['unplanned']} |")
            continue
        top = sorted(j["terms_gb"].items(), key=lambda kv: -kv[1])[:3]
        lines.append(
            f"| {j['rule']} | {j['run']} | {j['gpus']} | {j['peak_gb']:.1f} | {j['needs_gb']:.1f} | "
            f"{'yes' if j.get('fits', True) else '**no**'} | {j['phase']} | "
            + ", ".join(f"{k} {v:.1f}" for k, v in top)
            + " |"
        )
    return "\n".join(lines)


def main(a):
    """`vauflow memory`."""
    import sys

    from vauflow.plan.runs import load_config

    jobs, refused = check_fits(plan_config(load_config(*a.configfile), dict.fromkeys(GPU_RULES, a.gpus)), a.gpu_gb)
    print(as_table(jobs) if a.markdown else json.dumps({"gpu_gb": a.gpu_gb, "jobs": jobs}, indent=1))
    if refused:
        print(f"vauflow: {refused}", file=sys.stderr)
    return 1 if refused and a.check else 0
