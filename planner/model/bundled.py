"""ModelSpecs of the catalog models no hand-written family reads (gpt-oss-20b), built once by
transformers on the meta device and shipped in ``catalogs/specs/``: the core install, which has no
transformers, reads every catalog model. With the ``hf`` extra the meta route builds them afresh
under the installed transformers; tests/test_bundled_specs.py keeps the files equal to that build.

Written by a maintainer after a transformers release changes them:
``python -m planner.model.bundled`` (needs the hf extra).
"""

from __future__ import annotations

import sys

from planner.catalog import catalog_root, model_names
from planner.model.types import ModelSpec

FOLDER = "specs"


def bundled_spec(name: str) -> ModelSpec | None:
    """The shipped spec of catalog model ``name``, or None when it has none."""
    from planner.model.spec_cache import spec_from_json

    path = catalog_root() / FOLDER / f"{name}.json"
    return spec_from_json(path.read_text()) if path.is_file() else None


def needs_bundle(name: str) -> bool:
    """Whether a catalog model's family is one only the meta route reads."""
    from planner.catalog import load_model_config
    from planner.model.hf_config import SUPPORTED

    cfg = load_model_config(name)
    return "mm_vision_tower" not in cfg and cfg.get("model_type") not in SUPPORTED


def build(name: str) -> str:
    """The JSON of ``name``'s spec as loading the catalog model builds it now (the meta route, no
    on-disk cache)."""
    import os

    from planner.catalog import load_model_config, model_config_path
    from planner.model.hf_config import spec_from_config
    from planner.model.spec_cache import spec_to_json

    os.environ["PLANNER_CACHE_DIR"] = "off"
    return spec_to_json(spec_from_config(load_model_config(name), name, model_config_path(name).name)) + "\n"


def main() -> None:
    folder = catalog_root() / FOLDER
    folder.mkdir(exist_ok=True)
    for name in model_names():
        if needs_bundle(name):
            (folder / f"{name}.json").write_text(build(name))
            sys.stdout.write(f"wrote {folder / name}.json\n")


if __name__ == "__main__":
    main()
