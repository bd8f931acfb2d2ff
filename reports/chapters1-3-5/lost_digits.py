"""Why chapter 1's 784-100-10 net varies so much from run to run: per run, the digits it
never learned to recognise (test recall under 20%), from each run's saved test predictions.

    .venv/bin/python reports/chapters1-3-5/lost_digits.py reports/chapters1-3-5/runs reports/chapters1-3-5/more-seeds
"""

import sys
from pathlib import Path


from nnbook.data import mnist
from nnbook.runs import directory as runs

NAME = "ch1_784_100_10"


def main(folders: list[str]) -> None:
    labels = mnist.load("mnist").test.y
    print(f"{'run':<38} {'seed':>4} {'test':>7}  digits recognised in under 20% of their test images")
    for folder in folders:
        for path in sorted(Path(folder).glob(f"{NAME}-*")):
            summary = runs.read_summary(path)
            predicted = runs.load_predictions(path).argmax(1)  # the best-validation epoch's network
            recall = [((predicted == d) & (labels == d)).sum() / (labels == d).sum() for d in range(10)]
            lost = [d for d, r in enumerate(recall) if r < 0.2]
            print(f"{path.name:<38} {summary.seed:>4} {100 * (predicted == labels).mean():6.2f}%  "
                  f"{', '.join(map(str, lost)) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
