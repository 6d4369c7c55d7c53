"""A corpus of hostile and broken inputs, each with the outcome the error contract promises.

Every case builds its files in a scratch folder and names the command line to run. The expected
outcome is ``error`` (exit 2, one line ``Error: ...`` containing the needles), ``misfit`` (exit 3)
or ``ok`` (exit 0). ``tests/test_hostile_corpus.py`` runs every case in the test process;
``python tests/hostile_corpus.py`` runs them as separate processes against the checkout it is
in and prints the count per outcome (clean error, traceback, hang, wrong success), which is how
the before/after figures of the hostile-input work were taken (``PYTHONPATH=<old checkout>``
runs it against another version).
"""

from __future__ import annotations

import json
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BASE = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 512, "intermediate_size": 1024,
        "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 8, "vocab_size": 1000,
        "max_position_embeddings": 2048, "torch_dtype": "bfloat16"}
GPU = ["--gpu", "H100"]
TENSOR = {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}


@dataclass
class Case:
    name: str
    build: Callable[[Path], list[str]]
    """Writes the case's files under the folder and returns the command line (after ``planner``)."""
    expect: str = "error"
    needles: tuple[str, ...] = ()
    check: Callable[[Path], None] | None = None
    """Afterwards, on the folder: what must (not) have happened to the files."""
    tags: tuple[str, ...] = field(default=())


def config(root: Path, text: str | None = None, **change) -> str:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(text if text is not None else json.dumps({**BASE, **change}))
    return str(root)


def safetensors(path: Path, header: dict, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def index(folder: Path, weight_map, raw: bytes | None = None) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors.index.json").write_bytes(raw if raw is not None else json.dumps({"weight_map": weight_map}).encode())
    return str(folder)


def yaml_file(root: Path, text: str, name: str = "s.yaml") -> str:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    return str(root / name)


SCENARIO = "model: Llama-3.2-1B\ninventory: {gpus: [H100]}\n"


def _config_cases() -> list[Case]:
    def text_config(mt):
        return lambda d: ["estimate", config(d, model_type="llava", architectures=["LlavaForConditionalGeneration"],
                                             text_config={"model_type": mt})]

    def quant(qc):
        return lambda d: ["estimate", config(d, quantization_config=qc)]

    def ct(group):
        return quant({"quant_method": "compressed-tensors", "config_groups": {"group_0": group}})

    return [
        Case("config NaN integer", lambda d: ["estimate", config(d, '{"model_type": "llama", "num_hidden_layers": NaN}')],
             needles=("num_hidden_layers",)),
        Case("config Infinity integer", lambda d: ["estimate", config(d, '{"model_type": "llama", "num_hidden_layers": Infinity}')],
             needles=("num_hidden_layers",)),
        Case("config 1e400 integer", lambda d: ["estimate", config(d, '{"model_type": "llama", "hidden_size": 1e400}')],
             needles=("hidden_size",)),
        Case("text_config model_type dict", text_config({"a": 1}), needles=("model_type",)),
        Case("text_config model_type list", text_config([1]), needles=("model_type",)),
        Case("config_groups a list", quant({"quant_method": "compressed-tensors", "config_groups": [1, 2]}),
             needles=("config_groups",)),
        Case("config_groups weights a string", ct({"weights": "x", "targets": ["Linear"]}), needles=("weights",)),
        Case("config_groups targets an integer", ct({"weights": {"num_bits": 4}, "targets": 5}), needles=("targets",)),
        Case("KV heads 3 of 8", lambda d: ["estimate", config(d, num_key_value_heads=3)], needles=("num_key_value_heads (3)",)),
        Case("KV heads 16 of 8", lambda d: ["estimate", config(d, num_key_value_heads=16)], needles=("num_key_value_heads (16)",)),
        Case("1024 heads at hidden 512", lambda d: ["estimate", config(d, num_attention_heads=1024, num_key_value_heads=1024)],
             needles=("head_dim",)),
        Case("partial_rotary_factor -1", lambda d: ["estimate", config(d, partial_rotary_factor=-1)],
             needles=("partial_rotary_factor",)),
        Case("hidden 2^62", lambda d: ["estimate", config(d, hidden_size=2**62)], needles=("hidden_size",)),
        Case("10^6 layers", lambda d: ["estimate", config(d, num_hidden_layers=10**6)], needles=("at most 4,096",)),
        Case("GPTQ bits 'four'", quant({"quant_method": "gptq", "bits": "four", "group_size": 128}), needles=("bits",)),
        Case("GPTQ bits 0", quant({"quant_method": "gptq", "bits": 0, "group_size": 128}), needles=("bits",)),
        Case("GPTQ group_size 0", quant({"quant_method": "gptq", "bits": 4, "group_size": 0}), needles=("group_size",)),
        Case("FP8 weight_block_size [0, 0]", quant({"quant_method": "fp8", "weight_block_size": [0, 0]}),
             needles=("weight_block_size",)),
        Case("bitsandbytes load_in_4bit 'x'", quant({"quant_method": "bitsandbytes", "load_in_4bit": "x"}),
             needles=("load_in_4bit",)),
        Case("config.json a FIFO", lambda d: ["estimate", _fifo(d / "config.json")], needles=("FIFO",)),
        Case("config.json not UTF-8", lambda d: ["estimate", _bytes(d / "config.json", b'{"model_type": "\xff"}')],
             needles=("UTF-8",)),
        Case("broken config.json beside the weights",
             lambda d: ["estimate", config(d, "{broken") and str(safetensors(d / "model.safetensors", {"a": TENSOR}, b"\0" * 4).parent)],
             needles=("not valid JSON",)),
        Case("MODEL of 5,000 characters", lambda d: ["estimate", "a" * 5000], needles=("at most 1024",)),
        Case("MODEL ~nouser/config.json", lambda d: ["estimate", "~nouser/config.json"], needles=("not found",)),
    ]


def _fifo(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return str(path)


def _bytes(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _safetensors_cases() -> list[Case]:
    def one(header, data=b"\0" * 4):
        return lambda d: ["estimate", str(safetensors(d / "model.safetensors", header, data).parent)]

    def two_shards(d):
        for i in (1, 2):
            safetensors(d / f"m-{i}.safetensors", {"a": TENSOR}, b"\0" * 4)
        return ["estimate", str(d)]

    def with_index(weight_map, raw=None, shard=True):
        def build(d):
            if shard:
                safetensors(d / "m-1.safetensors", {"a": TENSOR}, b"\0" * 4)
            return ["estimate", index(d, weight_map, raw)]
        return build

    def escape(name_of):
        def build(d):
            outside = safetensors(d / "outside" / "outside.safetensors", {"a": TENSOR}, b"\0" * 4)
            return ["estimate", index(d / "ckpt", {"a": name_of(outside)})]
        return build

    return [
        Case("dtype a list", one({"a": {**TENSOR, "dtype": ["F16"]}}), needles=("dtype",)),
        Case("shape [true]", one({"a": {**TENSOR, "shape": [True], "data_offsets": [0, 2]}}, b"\0" * 2), needles=("shape",)),
        Case("overlapping data_offsets",
             one({"a": TENSOR, "b": {**TENSOR, "data_offsets": [2, 6]}}, b"\0" * 6), needles=("overlaps",)),
        Case("a gap between tensors", one({"a": TENSOR, "b": {**TENSOR, "data_offsets": [6, 10]}}, b"\0" * 10),
             needles=("unused",)),
        Case("header length past the file", lambda d: ["estimate", _bytes(d / "model.safetensors", struct.pack("<Q", 10**9) + b"{}")],
             needles=("corrupt header",)),
        Case("one tensor in two shards", two_shards, needles=("two shards",)),
        Case("index with a null file name", with_index({"a": None}), needles=("shard file names",)),
        Case("index with an integer file name", with_index({"a": 5}), needles=("shard file names",)),
        Case("index not UTF-8", with_index(None, b'{"weight_map": {"a": "\xff\xfe"}}'), needles=("UTF-8",)),
        Case("index naming a tensor no shard has", with_index({"a": "m-1.safetensors", "zz": "m-1.safetensors"}),
             needles=("'zz'", "no shard")),
        Case("index naming ../outside.safetensors", escape(lambda p: "../outside/outside.safetensors"),
             needles=("outside the checkpoint folder",)),
        Case("index naming an absolute path", escape(lambda p: str(p)), needles=("outside the checkpoint folder",)),
        Case("safetensors file a FIFO", lambda d: ["estimate", _fifo(d / "model.safetensors")], needles=("regular file",)),
    ]


def _flag_cases() -> list[Case]:
    return [
        Case("size --concurrency 10**20", lambda d: ["size", "Llama-3.2-1B", "--concurrency", str(10**20)],
             needles=("concurrency",)),
        *[Case(f"size --target-tokens-per-s {v}", lambda d, v=v: ["size", "Llama-3.2-1B", "--target-tokens-per-s", v],
               needles=("target-tokens-per-s",)) for v in ("nan", "inf", "1e300", "-1")],
        Case("plan --max-memory 0 twice", lambda d: ["plan", "Llama-3.2-1B", "--max-memory", "0=24GiB,0=12GiB"],
             needles=("twice",)),
        Case("plan --max-memory device 10^20", lambda d: ["plan", "Llama-3.2-1B", "--max-memory", "99999999999999999999=24GiB"],
             needles=("GPU index",)),
        Case("plan --pin one module twice", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--gpu", "H100", "--pin", "lm_head=0",
                                                       "--pin", "lm_head=1"], needles=("pinned twice",)),
        Case("plan --time-limit 0", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--time-limit", "0"], needles=("time-limit",)),
        Case("plan --time-limit 1e9", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--time-limit", "1e9"], needles=("time-limit",)),
        Case("plan --batch 10^12", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--batch", str(10**12)], needles=("batch",)),
        Case("an unknown flag", lambda d: ["plan", "Llama-3.2-1B", "--bogus"], needles=("--bogus", "--help")),
    ]


def _yaml_cases() -> list[Case]:
    laughs = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
                     for p, k in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True))
    axis = "[" + ", ".join(map(str, range(1, 1001))) + "]"
    return [
        Case("duplicate YAML keys", lambda d: ["plan", "--file", yaml_file(d, SCENARIO + "model: gpt2\n")], needles=("twice",)),
        Case("max_memory {0: true}", lambda d: ["plan", "--file", yaml_file(d, "model: Llama-3.2-1B\ninventory: {max_memory: {0: true}}\n")],
             needles=("max_memory",)),
        Case("workload batch: true", lambda d: ["plan", "--file", yaml_file(d, SCENARIO + "workload: {batch: true}\n")],
             needles=("workload.batch",)),
        Case("YAML model of 5,000 characters", lambda d: ["plan", "--file", yaml_file(d, "model: " + "a" * 5000 + "\ninventory: {}\n")],
             needles=("model", "1024")),
        Case("YAML model ~nouser/config.json", lambda d: ["plan", "--file", yaml_file(d, "model: ~nouser/config.json\ninventory: {gpus: [H100]}\n")],
             needles=("not found",)),
        Case("a 10^6-point sweep", lambda d: ["whatif", yaml_file(d, SCENARIO + f"sweep:\n  workload.batch: {axis}\n"
                                                                    f"  workload.prompt_tokens: {axis}\n")],
             needles=("1,000,000 points",)),
        Case("billion laughs in sweep values", lambda d: ["whatif", yaml_file(d, laughs + SCENARIO + "sweep: {workload.batch: *h}\n")],
             needles=("100,000 values",)),
        Case("whatif on /dev/zero", lambda d: ["whatif", "/dev/zero"], needles=("character device",)),
        Case("whatif on a FIFO", lambda d: ["whatif", _fifo(d / "s.yaml")], needles=("FIFO",)),
        Case("plan --file on a FIFO", lambda d: ["plan", "--file", _fifo(d / "s.yaml")], needles=("FIFO",)),
        Case("whatif on a folder", lambda d: ["whatif", str(d)], needles=("is a directory",)),
        Case("a what-if whose every point fails",
             lambda d: ["whatif", yaml_file(d, SCENARIO + "sweep: {model: [nonexistent-1, nonexistent-2]}\n")],
             needles=("nonexistent-1",)),
    ]


def _special(path: Path) -> str:
    """A character device like /dev/null, made in the scratch folder (needs root), else a FIFO."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        os.mkfifo(path)
    return str(path)


def _linked(d: Path) -> str:
    d.mkdir(parents=True, exist_ok=True)
    (d / "real.json").write_text("{}\n")
    os.chmod(d / "real.json", 0o600)
    os.symlink(d / "real.json", d / "link.json")
    return str(d / "link.json")


def _check_link(d: Path) -> None:
    assert (d / "link.json").is_symlink(), "the symbolic link was replaced by a file"
    assert stat.S_IMODE(os.stat(d / "real.json").st_mode) == 0o600, "the mode of the replaced file changed"
    assert json.loads((d / "real.json").read_text())["device_map"], "the file the link names was not written"


def _hard_linked(d: Path) -> str:
    d.mkdir(parents=True, exist_ok=True)
    (d / "a.json").write_text("{}\n")
    os.link(d / "a.json", d / "b.json")
    return str(d / "a.json")


def _check_unchanged(name: str, text: str) -> Callable[[Path], None]:
    def check(d: Path) -> None:
        assert (d / name).read_text() == text, f"{name} was changed"
        assert not [p for p in d.iterdir() if p.name.startswith(".planner-")], "a temporary file was left behind"
    return check


def _check_special(d: Path) -> None:
    mode = os.stat(d / "null").st_mode
    assert stat.S_ISCHR(mode) or stat.S_ISFIFO(mode), "the device node was replaced"


def _check_no_dash(d: Path) -> None:
    assert not (d / "-").exists(), "a file named '-' was written"


def _output_cases() -> list[Case]:
    plan = ["plan", "Llama-3.2-1B", *GPU, "--device-map-out"]
    homelab = str(Path(__file__).resolve().parents[1] / "examples" / "whatif" / "homelab.yaml")

    def file_in(d: Path, name: str = "afile") -> Path:
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_text("x")
        return d / name

    return [
        Case("--device-map-out a character device", lambda d: [*plan, _special(d / "null")], needles=("regular file",),
             check=_check_special),
        Case("--device-map-out a FIFO", lambda d: [*plan, _fifo(d / "f.json")], needles=("FIFO",)),
        Case("--device-map-out a folder", lambda d: [*plan, str(d)], needles=("is a directory",)),
        Case("--device-map-out /proc/version", lambda d: [*plan, "/proc/version"], needles=("/proc",)),
        Case("--device-map-out a 300-character name", lambda d: [*plan, str(d / ("x" * 300))], needles=("too long",)),
        Case("--device-map-out in a missing folder", lambda d: [*plan, str(d / "missing" / "m.json")], needles=("does not exist",)),
        Case("--device-map-out under a file", lambda d: [*plan, str(file_in(d) / "m.json")], needles=("Not a directory",)),
        Case("--device-map-out a file with hard links", lambda d: [*plan, _hard_linked(d)], needles=("hard links",),
             check=_check_unchanged("b.json", "{}\n")),
        Case("--device-map-out through a symbolic link", lambda d: [*plan, _linked(d)], expect="ok", check=_check_link),
        Case("--plot under a file", lambda d: ["whatif", homelab, "--jobs", "1", "--plot", str(file_in(d) / "p")], needles=("--plot",)),
        Case("--csv under a file", lambda d: ["whatif", homelab, "--jobs", "1", "--csv", str(file_in(d) / "r.csv")], needles=("--csv",)),
        Case("--device-map-out - prints the document, writes no file", lambda d: [*plan, "-"], expect="ok",
             check=_check_no_dash),
        Case("--csv and --json both '-'", lambda d: ["whatif", homelab, "--csv", "-", "--json", "-"], needles=("only one",)),
        Case("--csv - writes to stdout, not a file named '-'", lambda d: ["whatif", homelab, "--jobs", "1", "--csv", "-"],
             expect="ok", check=_check_no_dash),
    ]


def cases() -> list[Case]:
    from hostile_round2 import round2_cases

    return [*_config_cases(), *_safetensors_cases(), *_flag_cases(), *_yaml_cases(), *_output_cases(), *round2_cases()]


def main() -> None:
    """Run every case as a separate ``planner`` process and print the count per outcome."""
    import subprocess
    import sys
    import tempfile

    counts: dict[str, int] = {}
    for k, case in enumerate(cases()):
        folder = Path(tempfile.mkdtemp()) / f"case{k}"
        folder.mkdir()
        argv = case.build(folder)
        try:
            r = subprocess.run([sys.executable, "-m", "planner", *argv], capture_output=True, text=True, timeout=60, cwd=folder)
            lines = r.stderr.strip().splitlines()
            want = {"ok": 0, "error": 2, "misfit": 3}[case.expect]
            if "Traceback" in r.stderr:
                outcome = "traceback"
            elif case.expect != "ok" and r.returncode == 0:
                outcome = "wrong success"
            elif r.returncode != want or (case.expect != "ok" and len(lines) != 1):
                outcome = f"other (exit {r.returncode}, {len(lines)} lines)"
            elif case.expect != "ok" and not all(n in lines[0] for n in case.needles):
                outcome = "wrong message"
            else:
                outcome = "as promised"
            if case.check is not None:
                try:
                    case.check(folder)
                except AssertionError as e:
                    outcome = f"harmful write ({e})"
        except subprocess.TimeoutExpired:
            outcome = "hang (over 60 s)"
        key = f"{(case.tags or ('round 1',))[0]}: {outcome}"
        counts[key] = counts.get(key, 0) + 1
        print(f"{outcome:<24} {case.name}", flush=True)
    print("\n".join(f"{n:>4}  {o}" for o, n in sorted(counts.items())), f"\n{sum(counts.values()):>4}  cases")


if __name__ == "__main__":
    main()
