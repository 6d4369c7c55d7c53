"""The objectives each question can optimise, named once: the CLI's choices, the request and
what-if schemas, the solvers' checks and the reports all read these tuples (no imports here, so
the CLI's ``--help`` stays instant)."""

from __future__ import annotations

from typing import Literal

PlanObjective = Literal["gpus", "price", "hourly", "balance", "cost"]
"""After the least offload time: fewest GPUs, lowest purchase price, lowest hourly price, even load
(balance), or cost (the hourly price when every GPU has one, else the purchase price)."""
SizeObjective = Literal["price", "hourly", "gpus", "tco"]
"""Purchase price of hosts and GPUs, hourly price of instances, GPU count, or total cost of
ownership (purchase plus power over the horizon). Serving, training and compression sizing alike."""

PLAN_OBJECTIVES: tuple[str, ...] = PlanObjective.__args__
SIZE_OBJECTIVES: tuple[str, ...] = SizeObjective.__args__
