"""The longest context a serving engine accepts for a model, from its config.json.

vLLM's rule (``_get_and_verify_max_len`` in vllm/config/model.py, read for the 0.11-0.12 line):
the smallest of the length keys the (text) config has (max_position_embeddings, n_positions,
max_seq_len, seq_length, model_max_length, max_target_positions, max_sequence_length,
max_seq_length, seq_len), with ``model_max_length`` overriding them when set; 2048 when the config
names none. RoPE scaling then multiplies it by the scaling factor unless the rope type already
counts the extension (su, longrope, llama3) or the model is Gemma-3 (its 128k is already scaled);
YaRN scales ``original_max_position_embeddings`` instead. A ``--max-model-len`` above the result
makes vLLM refuse to start, so the planner never prints one and calls a longer context infeasible.
"""

from __future__ import annotations

from typing import Any

LENGTH_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "model_max_length",
               "max_target_positions", "max_sequence_length", "max_seq_length", "seq_len")
VLLM_DEFAULT = 2048
_UNSCALED_ROPE = ("su", "longrope", "llama3")


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value <= 0:
        return None
    return float(value)


def _rope_entries(cfg: dict) -> list[dict]:
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling")
    if not isinstance(rope, dict):
        return []
    if all(isinstance(v, dict) for v in rope.values()) and rope:  # per layer type (transformers 5)
        return list(rope.values())
    return [rope]


def max_model_len(config: dict) -> tuple[int, str]:
    """(longest context in tokens, where it comes from) for a config.json dict."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    found = {k: v for k in LENGTH_KEYS if (v := _positive(text.get(k))) is not None}
    if not found:
        length, source = float(VLLM_DEFAULT), "vLLM's default for configs that name no length"
    elif "model_max_length" in found:
        length, source = found["model_max_length"], "model_max_length"
    else:
        source = min(found, key=found.get)
        length = found[source]
    model_type = str(text.get("model_type") or config.get("model_type") or "")
    entries = _rope_entries(text)
    if entries and "gemma3" not in model_type:
        factor = 1.0
        for rope in entries:
            kind = rope.get("rope_type") or rope.get("type") or "default"
            if kind in _UNSCALED_ROPE:
                continue
            factor = _positive(rope.get("factor")) or factor
            if kind == "yarn" and _positive(rope.get("original_max_position_embeddings")):
                length = _positive(rope["original_max_position_embeddings"])
        if factor != 1.0:
            source += f" x rope factor {factor:g}"
        length *= factor
    return int(length), source


def check_context(spec, tokens: int, what: str = "context", fix: str | None = None) -> None:
    """The one rule for a sequence longer than the model: ``tokens`` (prompt, image tokens and
    generated ones) above its limit is a request no engine serves (vLLM refuses --max-model-len above
    it; transformers' positions run out or extrapolate). Raised as "does not fit" (exit 3); ``fix``
    says what to shorten, with ``{limit}`` where the limit goes."""
    from planner.errors import InfeasibleError

    limit = spec.max_model_len
    if limit is not None and tokens > limit:
        raise InfeasibleError(
            f"{what}: {tokens:,} tokens is more than {spec.name} supports ({limit:,} positions: "
            f"{spec.max_model_len_source} in its config.json), and vLLM refuses --max-model-len above it; "
            f"{(fix or 'use --context {limit}').format(limit=limit)} or less, or a model with a longer context")
