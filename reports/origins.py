"""Where a report's runs trained, read from their records (nnbook/analysis/origins.py): per
config its seeds, stacks and their wall time, processor, threads, versions and nnbook's commit.

    .venv/bin/python reports/origins.py RUNS_DIR... > records.md
"""

import sys
from pathlib import Path

from nnbook.analysis.origins import origins_markdown
from nnbook.runs.directory import is_run_dir


def main(folders: list[str]) -> None:
    paths = [p for folder in folders for p in sorted(Path(folder).iterdir()) if is_run_dir(p)]
    print("# Where each row trained (generated from the records by reports/origins.py)\n")
    print(origins_markdown(paths), end="")


if __name__ == "__main__":
    missing = [f for f in sys.argv[1:] if not Path(f).is_dir()]
    if len(sys.argv) < 2 or missing:
        print(f"error: {missing[0] + ': no such folder' if missing else 'give one or more runs folders'} "
              "(usage: python reports/origins.py RUNS_DIR... > records.md)", file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1:])
