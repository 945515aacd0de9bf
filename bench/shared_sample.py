"""The optional larger harvested sample the benchmarks read: ../shared/data beside the clone."""
import hashlib
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "harvest-public.jsonl"


def require(path: Path = SAMPLE) -> Path:
    """The sample's path, or exit with what to do when it is absent (the test suite never needs it)."""
    if not path.exists():
        raise SystemExit(f"{path} not found: this benchmark reads the optional 1500-example shared sample. "
                         "Put it there, or harvest a larger file of your own "
                         "(manage.py harvest --repo CHECKOUT --count 1500 --output FILE) and pass it where the "
                         "benchmark takes --data.")
    return path


def baseline_labeled(sample: list[dict], n: int) -> list[dict]:
    """N labeled-format records from ``sample``, re-keyed past its length, each with the baseline's label."""
    from gsctune.domain import baseline

    labels = [baseline.label(ex["changed_files"], ex["diff"]).to_label_dict() for ex in sample]
    out = []
    for i in range(n):
        ex = dict(sample[i % len(sample)])
        copy = i // len(sample)
        if copy:
            ex["base_commit"] = hashlib.sha1(f"{ex['base_commit']}{copy}".encode()).hexdigest()
            ex["head_commit"] = hashlib.sha1(f"{ex['head_commit']}{copy}".encode()).hexdigest()
        ex.update({"noise_injected": False, "injected_files": [],
                   "label": {**labels[i % len(sample)], "model": baseline.BASELINE_MODEL, "usage": {}}})
        out.append(ex)
    return out
