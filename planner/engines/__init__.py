"""What each runtime really holds and accepts: the one place an answer is checked against its engine.

A request names a quantization (``--quant``, or ``auto``: the checkpoint's own) and an engine
(transformers' ``from_pretrained`` + accelerate, or vLLM). Whether the engine can produce that
quantization from the checkpoint given, which modules it converts, what it keeps on the CPU, on
which GPUs it dequantizes, and which flags or ``quantization_config`` it needs are the engine's
rules, quoted from its source in ``transformers_rules.py`` and ``vllm_rules.py``. Every profile
passes through ``engine_load``: costs size what the engine will hold, or the request is refused
with the engine's reason and the fix.
"""

from planner.engines.load import EngineLoad, engine_load

__all__ = ["EngineLoad", "engine_load"]
