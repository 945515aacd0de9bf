"""Fetch the wheels bench/gpu_smoke.sh --offline installs: `pip download --no-deps`, one group at a time.

Versions are the ones this checkout's venv runs (so the offline host trains with what the tests passed on).
A group that would take the folder past the budget is left out whole and named in skipped.json with the
reason; the smoke script then skips the parts that need it.
Usage: python bench/smoke_wheels.py DIR BUDGET_BYTES [FREEZE_FILE]
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
from pathlib import Path

# What the training entry needs beyond an image with torch, transformers, peft and accelerate, in the
# order it is worth the space (trl first: without it nothing trains). A group is named after the package
# it unlocks. Without a FREEZE file, the requirements of torch, transformers, huggingface_hub, peft and
# accelerate (IMAGE_HAS) are taken to be there.
IMAGE_HAS = ["filelock", "typing-extensions", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "fsspec",
             "setuptools", "huggingface-hub", "hf-xet", "httpx", "httpcore", "h11", "anyio", "sniffio", "idna",
             "certifi", "numpy", "packaging", "pyyaml", "regex", "tokenizers", "safetensors", "tqdm", "psutil",
             "accelerate", "peft", "transformers", "torch", "triton"]
GROUPS = {
    "trl": ["trl", "datasets", "pyarrow", "pandas", "python-dateutil", "six", "tzdata", "dill", "multiprocess",
            "xxhash", "fsspec", "aiohttp", "aiosignal", "frozenlist", "multidict", "yarl", "propcache", "attrs",
            "aiohappyeyeballs", "httpx", "httpcore", "h11", "anyio", "requests", "charset-normalizer", "idna",
            "urllib3", "certifi", "jinja2", "markupsafe"],
    "gguf": ["sentencepiece", "protobuf"],  # llama.cpp's converter imports sentencepiece for Qwen vocabularies
    "unsloth": ["unsloth", "unsloth_zoo", "cut_cross_entropy", "torchao", "tyro", "typer", "rich", "pydantic",
                "pydantic_core", "annotated-types", "typing-inspection", "json5", "nest-asyncio", "structlog",
                "click", "shellingham", "markdown-it-py", "mdurl", "pygments", "docstring_parser", "typeguard",
                "sentencepiece", "protobuf", "hf_transfer", "diffusers", "importlib_metadata", "zipp", "einops",
                "msgspec", "psutil", "wheel"],
    "bitsandbytes": ["bitsandbytes"],
}
# bitsandbytes: not installed on a CPU host, the version make install-gpu uses. pyarrow: the oldest that
# datasets 4.8 accepts, 43 MB instead of 26.0's 55 MB, so that trl's group fits the folder.
PINNED = {"bitsandbytes": "0.50.2", "pyarrow": "21.0.0"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wanted_version(name: str) -> str | None:
    if name in PINNED:
        return PINNED[name]
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def folder_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def copy_converter(out: Path) -> str | None:
    """llama.cpp's converter alone (2 MB of its 220 MB source tree) into out/llama.cpp; None when copied."""
    import shutil

    src = Path(os.environ.get("LLAMA_CPP_DIR") or Path(__file__).resolve().parents[1] / "var" / "llama.cpp")
    if not (src / "convert_hf_to_gguf.py").exists():
        return f"no llama.cpp converter in {src} (scripts/get_llama_cpp.sh)"
    dest = out / "llama.cpp"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copy(src / "convert_hf_to_gguf.py", dest)
    for sub in ("conversion", "gguf-py"):
        shutil.copytree(src / sub, dest / sub, ignore=shutil.ignore_patterns("__pycache__", "tests", "*.pyc"))
    return None


def main(folder: str, budget: int, freeze: str = "") -> int:
    out = Path(folder)
    have = {norm(n) for n in IMAGE_HAS}
    if freeze:
        have = {norm(line.split("==")[0]) for line in Path(freeze).read_text().splitlines() if "==" in line}
    pyver = os.environ.get("SMOKE_PYVER", "3.12")
    platforms = os.environ.get("SMOKE_PLATFORM", "manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 "
                               "manylinux_2_17_x86_64 manylinux2014_x86_64")
    skipped: dict[str, str] = {}
    for group, names in GROUPS.items():
        wanted = [(n, wanted_version(n)) for n in names if norm(n) not in have]
        wanted = [(n, v) for n, v in wanted if v]
        before = {p.name for p in out.glob("*.whl")}
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(out),
               "--python-version", pyver]
        for plat in platforms.split():
            cmd += ["--platform", plat]
        failed = []
        for name, ver in wanted:
            if subprocess.run(cmd + [f"{name}=={ver}"], capture_output=True, text=True).returncode != 0:
                failed.append(f"no wheel for {name}=={ver}")
        if group == "gguf" and (why := copy_converter(out)):
            failed.append(why)
        added = [p for p in out.glob("*.whl") if p.name not in before]
        size = sum(p.stat().st_size for p in added)
        if failed or folder_bytes(out) > budget:
            for p in added:
                p.unlink()
            if group == "gguf":
                import shutil

                shutil.rmtree(out / "llama.cpp", ignore_errors=True)
            skipped[group] = (f"not fetched: {', '.join(failed)} (python {pyver}, {platforms.split()[0]})" if failed
                              else f"its wheels ({size / 2**20:.0f} MiB) do not fit the {budget // 2**20} MiB folder")
        print(f"{group}: {'left out: ' + skipped[group] if group in skipped else f'{len(added)} wheels'}; "
              f"folder {folder_bytes(out) / 2**20:.1f} MiB", flush=True)
    (out / "skipped.json").write_text(json.dumps(skipped, indent=1))
    (out / "python-version.txt").write_text(pyver + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else ""))
