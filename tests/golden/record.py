"""Record the golden runs (cases.py) into golden.json: `python tests/golden/record.py`.

Run it only to accept a deliberate change of nnbook's arithmetic, and say why in
the commit: test_golden.py holds every later version of nnbook to these numbers."""

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.golden.cases import CASES  # noqa: E402
from tests.golden.run import train_case, write_slice  # noqa: E402


def main() -> None:
    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_slice(Path(tmp) / "slice.pkl.gz")
        for name in CASES:
            runs = Path(tmp) / name
            runs.mkdir()
            golden[name] = train_case(name, runs, data)
            print(name, json.dumps(golden[name])[:200])
    (HERE / "golden.json").write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
