"""The book's reported figures, by config name: one table for `nnbook report`.

Each entry: the test accuracy the book reports (percent; None where the book
gives no number) and a note on where the figure comes from. Names are the
configs' names (`configs/<name>.yaml`); an ensemble of runs of config X is
reported under `X_ensemble`. Chapters other than 6 are added here too.
"""

from __future__ import annotations

from typing import NamedTuple, Optional


class BookFigure(NamedTuple):
    accuracy: Optional[float]  # percent, as the book prints it
    note: str


BOOK_FIGURES: dict[str, BookFigure] = {
    # Chapter 6: test accuracy at the best validation epoch, the best of the author's 3 runs.
    "ch6_shallow": BookFigure(97.80, "FC 100 sigmoid, 60 epochs"),
    "ch6_conv": BookFigure(98.78, "conv-pool 20 + FC 100, sigmoid"),
    "ch6_conv_only": BookFigure(None, "exercise, no figure: the FC layer helps"),
    "ch6_dbl_conv": BookFigure(99.06, "two conv-pool layers, sigmoid"),
    "ch6_dbl_conv_tanh": BookFigure(None, 'problem: "similar" to sigmoid (99.06)'),
    "ch6_dbl_conv_relu": BookFigure(99.23, "ReLU, lmbda 0.1"),
    "ch6_expanded": BookFigure(99.37, "ReLU net on the expanded data"),
    "ch6_expanded_fc300": BookFigure(99.46, "expanded, FC 300"),
    "ch6_expanded_fc1000": BookFigure(99.43, "expanded, FC 1000"),
    "ch6_expanded_2fc100": BookFigure(99.43, "expanded, two FC 100"),
    "ch6_expanded_2fc300": BookFigure(99.48, "expanded, two FC 300"),
    "ch6_expanded_2fc1000": BookFigure(99.47, "expanded, two FC 1000"),
    "ch6_relu_dropout": BookFigure(99.60, "two FC 1000 with dropout 0.5, 40 epochs"),
    "ch6_relu_dropout_ensemble": BookFigure(99.67, "plurality vote of 5 relu_dropout nets: 33 errors"),
}


def book_figure(name: str) -> Optional[BookFigure]:
    return BOOK_FIGURES.get(name)
