"""The optional larger harvested sample the benchmarks read: ../shared/data beside the clone."""
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
