"""A planning request written down: model, workload, inventory, objective and pins in YAML.

Strict: unknown keys are errors, so a typo never silently falls back to a default.
``planner plan --file scenario.yaml`` reads it; flags given on the command line override it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from planner.objectives import PlanObjective
from planner.workload import Workload
from planner.yaml_files import read_model


class InventorySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    gpus: list[str] = []
    """GPUs as catalog types or sizes, with counts: ["2xA100-80GB", "RTX4090", "24GiB"]."""
    cpu: str | int | None = None
    """CPU RAM the model may use, e.g. 256GiB."""
    disk: str | int | None = None
    """Disk space for offloaded weights, e.g. 1TiB (no disk offload unless given)."""
    max_memory: dict[str | int, str | int] | str | None = None
    """accelerate's max_memory: {0: 24GiB, cpu: 200GiB}; defines the GPUs when gpus is empty, caps them otherwise."""
    reserve: str | int | None = None
    """Per-GPU reserve overriding the default (CUDA context + 2% fragmentation)."""
    disk_gb_per_s: float = Field(2.0, ge=0.001, le=10_000, validation_alias=AliasChoices("disk_gb_per_s", "disk_gbps"))
    """Disk read bandwidth in GB/s, for offload time."""
    prices: dict[str, str | float] | list[str] = {}
    """Your prices per GPU type, replacing the catalog's: {H100: 2.10/h, RTX4090: 1600} (or a list of
    TYPE=PRICE, as the CLI's --price takes them: [H100=2.10/h, H100=25000])."""
    islands: list[list[int]] | None = Field(None, max_length=1024)
    """GPU indices joined by a fast link (NVLink bridges, NVSwitch, one PCIe switch), e.g. [[0, 2], [1, 3]]:
    consecutive parts of the model go to GPUs of one island first (default: all GPUs alike)."""
    island_link: str | None = None
    """gpu_links kind inside an island (catalogs/speed_model.yaml; default: the GPU type's own interconnect)."""
    between_islands: str = "pcie-cross-socket"
    """gpu_links kind between two islands."""


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    model: str = Field(min_length=1, max_length=1024)
    """Catalog name, config.json path, or safetensors file/folder (paths relative to this file)."""
    workload: Workload = Workload()
    """Precision, quantization, batch, prompt and new tokens, KV dtype, attention, engine."""
    inventory: InventorySpec
    """GPUs, CPU RAM and disk the model may use."""
    objective: PlanObjective = "gpus"
    """After least offload: fewest GPUs, lowest purchase price, lowest hourly price, or even load
    across all GPUs (cost: hourly when every GPU has an hourly price, else purchase)."""
    pins: dict[str, int | str] = {}
    """Module prefix -> device, e.g. {model.visual: 0}."""
    weights_only: bool = False
    """Plan weights only with no reserve, as accelerate does."""
    time_limit_s: float = Field(1.0, gt=0, le=600)
    """Solver time limit; a plan found but not proven optimal in time is reported with its gap."""
    offload_folder: str = Field("offload", min_length=1, max_length=4096)
    """Folder for disk-offloaded weights (used only when the plan puts something on disk)."""


def model_beside(model: str, folder: Path) -> str:
    """``model`` as a path relative to the YAML file's folder when such a file or folder exists
    there, else unchanged (a catalog name, a Hub id, an absolute path)."""
    local = folder / model
    try:
        here = not Path(model).is_absolute() and local.exists()
    except (OSError, ValueError):  # a name the file system cannot hold is not a path here
        here = False
    return str(local) if here else model


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    scenario = read_model(path, Scenario, "model, workload and inventory")
    model = model_beside(scenario.model, path.parent)
    if model != scenario.model:
        scenario = scenario.model_copy(update={"model": model})
    return scenario
