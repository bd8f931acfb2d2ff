"""The execution layer: a set of runs trained where asked (train.py is the door)."""
