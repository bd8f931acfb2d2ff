"""Hand-made mutations of nnbook's core: does a test fail when a rule of the book's protocol breaks?

Each mutation is one small source edit of the kind a real bug would make -- keep = p for
keep = 1 - p, `>` for `>=`, the partial mini-batch kept, n_in for n_out, lmbda/n for
lmbda/num_batches, a tie to the last-seen vote, a shift that wraps round -- applied to a
plain copy of the repository under /tmp/mutants (never to this tree: other people and long
trainings use it). The tests that concern the rule then run in the copy, with this
repository's virtual environment and the copy first on PYTHONPATH:

  killed    a test failed (the first lines of the summary name which);
  survived  every test passed: the rule is unguarded;
  stale     the edit no longer matches the source (the code moved): update the mutation.

The tree is copied once, at the start (a snapshot: files others edit meanwhile do not mix
into it), and every mutant is a copy of that snapshot. The editable install's import hook
is switched off in the copies (a sitecustomize on their PYTHONPATH), so a module missing
from a copy fails to import instead of loading silently from this tree. A baseline run of
every listed test on the unmutated snapshot comes first; it must pass and must import
nnbook from the copy. Not part of `make test`: up to a minute per mutation, some twenty
minutes for all of them on two cores.

  .venv/bin/python benchmarks/mutations.py                   # all, every failing test listed
  .venv/bin/python benchmarks/mutations.py --only keep_p ... # some, by name
  .venv/bin/python benchmarks/mutations.py --list            # what would run
  .venv/bin/python benchmarks/mutations.py --golden          # the golden runs too, after the others
  .venv/bin/python benchmarks/mutations.py --exclude tests/test_protocol.py   # without the protocol tests

Exit status 1 unless every mutation was killed (one survived, went stale or its tests could
not run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
WORK = Path("/tmp/mutants")
SNAPSHOT, ISOLATE = WORK / "_snapshot", WORK / "_isolate"
# sitecustomize runs after the .pth files: it takes the editable install's finder back out.
SITECUSTOMIZE = """# Written by benchmarks/mutations.py: a mutated copy never imports nnbook from the working tree.
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "_EditableFinder" not in getattr(f, "__name__", "")]
"""
# Not copied: the environment (used in place), run outputs at the top (nnbook/runs is code) and caches.
TOP_LEVEL_IGNORED = {".venv", ".git", "runs", "reports", "ensembles", "plots", "chapters", "data", "build", "dist"}
CACHES = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")


def ignored(directory: str, names: list[str]) -> set[str]:
    top = TOP_LEVEL_IGNORED.intersection(names) if Path(directory) == ROOT else set()
    return top | CACHES(directory, names)


MODEL, SEMANTICS, TRAIN, STEP = "tests/test_model.py", "tests/test_book_semantics.py", "tests/test_train.py", \
    "tests/test_step.py"
SCHEDULES, EXPAND, PROTOCOL = "tests/test_schedules.py", "tests/test_expand.py", "tests/test_protocol.py"
VOTE = "tests/test_chapter6.py::test_plurality_vote_breaks_ties_as_counter_most_common"
GOLDEN = "tests/test_golden.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    rule: str  # the convention it breaks, in the book's words
    path: str  # the file edited, relative to the repository
    edits: tuple[tuple[str, str], ...]  # (old, new); each old must occur exactly once
    tests: tuple[str, ...]  # pytest files or node ids


def m(name, rule, path, edits, *tests) -> Mutation:
    if isinstance(edits[0], str):
        edits = (edits,)
    return Mutation(name, rule, path, tuple(edits), tests)


INIT, LAYERS, BATCHES, LOOP = "nnbook/nn/init.py", "nnbook/nn/layers.py", "nnbook/training/batches.py", \
    "nnbook/training/loop.py"
SGD, MEASURE, NET, STATE = "nnbook/nn/sgd.py", "nnbook/nn/measure.py", "nnbook/nn/net.py", "nnbook/training/progress.py"
RULES, EXP, ENSEMBLE = "nnbook/training/schedules.py", "nnbook/data/expand.py", "nnbook/analysis/ensemble.py"
STATISTICS = "nnbook/statistics.py"
STEP_PY, COSTS_PY = "nnbook/nn/step.py", "nnbook/nn/costs.py"

ALWAYS_TEST = ("test_probs, test_acc = evaluate_test(net, data) if any(improved) else (None, None)",
               "test_probs, test_acc = evaluate_test(net, data)")

MUTATIONS = [
    # ------------------------------------------------------------------ initialisation
    m("init_n_in", "network3: FC and conv weights ~ N(0, 1/n_out), not 1/n_in", INIT,
      ('"network3": math.sqrt(1.0 / n_out),', '"network3": math.sqrt(1.0 / fan_in),'), MODEL, SEMANTICS),
    m("fc_n_out_is_n_in", "network3: an FC layer passes its own n_out to the rule", LAYERS,
      ("units, self.n_in, units,", "units, self.n_in, self.n_in,"), MODEL, SEMANTICS),
    m("conv_n_out_unpooled", "network3: a conv layer's n_out = filters*kh*kw / pool area", INIT,
      ("filters * kernel * kernel / (pool * pool)", "filters * kernel * kernel"), MODEL, SEMANTICS),
    m("default_init_n_out", "network2 default: weights ~ N(0, 1/n_in)", INIT,
      ('"default": math.sqrt(1.0 / fan_in),', '"default": math.sqrt(1.0 / n_out),'), MODEL, SEMANTICS),
    m("he_init_1_over_n", "he: weights ~ N(0, 2/n_in)", INIT,
      ('"he": math.sqrt(2.0 / fan_in),', '"he": math.sqrt(1.0 / fan_in),'), MODEL, SEMANTICS),
    m("softmax_not_zero", "network3: the softmax layer starts at zero", INIT,
      ('if softmax and init == "network3":', "if False:"), MODEL, SEMANTICS),
    m("biases_zero", "biases ~ N(0, 1) (he: zero)", INIT,
      ('if init == "he" else', 'if init in ("he", "network3") else'), MODEL, SEMANTICS),
    # ------------------------------------------------------------------ dropout
    m("keep_p", "dropout: the input is kept with probability 1 - p", BATCHES,
      ("keep = 1.0 - net.layers[i].p_dropout", "keep = net.layers[i].p_dropout"), PROTOCOL, MODEL, STEP),
    m("eval_scale_p", "dropout: evaluation computes (1 - p) * (x @ w) + b", LAYERS,
      ("alpha = 1.0 if training else 1.0 - self.p_dropout", "alpha = 1.0 if training else self.p_dropout"),
      PROTOCOL, MODEL),
    m("eval_unscaled", "dropout: evaluation scales by (1 - p)", LAYERS,
      ("alpha = 1.0 if training else 1.0 - self.p_dropout", "alpha = 1.0"), PROTOCOL, MODEL),
    m("training_rescaled", "dropout: the training mask is not rescaled (no 1/(1-p))", LAYERS,
      ("h = h * mask  #", "h = h * mask / (1.0 - self.p_dropout)  #"), PROTOCOL, MODEL, STEP),
    m("backward_unmasked", "dropout: a dropped input passes no gradient back", LAYERS,
      ("                grad_h.mul_(mask)", "                pass"), STEP),
    m("mask_reused", "dropout: a fresh mask every mini-batch", BATCHES,
      ("{i: m[step % steps_per_draw] for", "{i: m[0] for"), PROTOCOL, STEP),
    m("masks_of_member_0", "dropout: each member draws its masks from its own generator", BATCHES,
      ("generator=g, device=device) < keep for g in gens", "generator=gens[0], device=device) < keep for g in gens"),
      PROTOCOL, STEP),
    m("validation_in_training_mode", "evaluation: dropout off, (1 - p) scaling on", MEASURE,
      ("z = net(x[i:i + batch], training=False)", "z = net(x[i:i + batch], training=True)"), PROTOCOL, MODEL),
    m("probabilities_in_training_mode", "evaluation (test predictions): dropout off, (1 - p) on", NET,
      ("self(x[i:i + batch], training=False)", "self(x[i:i + batch], training=True)"), PROTOCOL, MODEL),
    # ------------------------------------------------------------------ the cost
    m("step_sums_the_batch", "the cost: the mean over the mini-batch, not the sum (the fast step)", STEP_PY,
      ("scales = [e / self.batch for e in eta]", "scales = [e for e in eta]"), STEP, SEMANTICS),
    m("log_likelihood_summed", "the cost: the mean log-likelihood over the mini-batch", COSTS_PY,
      ("squeeze(-1).mean(dim=1)", "squeeze(-1).sum(dim=1)"), MODEL, STEP),
    # ------------------------------------------------------------------ mini-batches
    m("keep_partial_batch", "network3 drops the final partial mini-batch", LOOP,
      ("n_batches = n_train // batch", "n_batches = -(-n_train // batch)"), PROTOCOL, SEMANTICS, TRAIN),
    m("network3_reshuffles", "network3: mini-batches in the data's fixed order", BATCHES,
      ("if config.shuffle:  # the permutations", "if True:  # the permutations"), PROTOCOL, SEMANTICS),
    m("network2_never_shuffles", "network2: the training data reshuffled every epoch", BATCHES,
      ("if config.shuffle:  # the permutations", "if False:  # the permutations"), PROTOCOL, SEMANTICS),
    m("same_order_each_epoch", "network2: a new order every epoch", BATCHES,
      ("torch.randperm(n, generator=g)", "torch.randperm(n, generator=torch.Generator().manual_seed(g.initial_seed()))"),
      PROTOCOL, SEMANTICS),
    # ------------------------------------------------------------------ L2
    m("l2_batches_not_whole", "network3: lmbda / num_training_batches, a whole number of batches", SGD,
      ("config.lmbda / (n_train // config.mini_batch_size)", "config.lmbda / (n_train / config.mini_batch_size)"),
      PROTOCOL, MODEL, SEMANTICS),
    m("l2_network3_by_n", "network3: L2 divided by the number of mini-batches", SGD,
      ("config.lmbda / (n_train // config.mini_batch_size)", "config.lmbda / n_train"), PROTOCOL, MODEL, SEMANTICS),
    m("l2_network2_by_batches", "network2: L2 divided by n", SGD,
      ("    return config.lmbda / n_train\n", "    return config.lmbda / (n_train // config.mini_batch_size)\n"),
      PROTOCOL, MODEL, SEMANTICS),
    m("l2_weight_decay_lmbda", "network3: weight decay lmbda/num_batches, not lmbda (the ~85% trap)", SGD,
      ("config.lmbda / (n_train // config.mini_batch_size)", "config.lmbda"), PROTOCOL, MODEL, SEMANTICS),
    m("l2_on_biases", "L2 on the weights only, biases excluded", SGD,
      ("            return\n        b.sub_(g)", "            return\n        self._decay(b)\n        b.sub_(g)"),
      PROTOCOL, MODEL, SEMANTICS),
    m("decay_without_eta", "network2: weight decay factor 1 - eta*lmbda/n", SGD,
      ("decays = [1.0 - e * self.c for e in eta]", "decays = [1.0 - self.c for e in eta]"),
      PROTOCOL, MODEL, SEMANTICS),
    m("l2_term_without_half", "the L2 term is 0.5 * c * sum(w^2)", MEASURE,
      ("(0.5 * decay * squares)", "(decay * squares)"), SEMANTICS),
    m("momentum_forgets", "momentum: v <- mu*v - eta*grad", SGD,
      ("v.baddbmm_(a, b, beta=self.mu, alpha=-1.0)", "v.baddbmm_(a, b, beta=0.0, alpha=-1.0)"), SEMANTICS, STEP),
    # ------------------------------------------------------------------ the best epoch and the reported figure
    m("best_strictly_greater", "network3: a validation accuracy >= the best is a new best", STATE,
      ("if accuracy >= best.validation_accuracy:", "if accuracy > best.validation_accuracy:"), TRAIN, PROTOCOL),
    m("summary_test_of_last_epoch", "the reported figure: test accuracy at the best validation epoch", LOOP,
      (ALWAYS_TEST, ("        if improved:\n            progress.best[m].test_accuracy = test",
                     "        progress.best[m].test_accuracy = measured.test_accuracy[m]")), TRAIN, PROTOCOL),
    m("model_of_last_epoch", "model.pt and test_predictions.npy: the best validation epoch's", LOOP,
      ("if self.improved[m]:", "if True:"), PROTOCOL),
    m("model_when_any_member_improves", "each run keeps its own best epoch's network", LOOP,
      ("if self.improved[m]:", "if self.test_probabilities is not None:"), PROTOCOL),
    m("report_best_by_test", "the book's figure: the test accuracy of the best run by validation", STATISTICS,
      ("key=lambda run: run.best_validation_accuracy)", "key=lambda run: run.test_accuracy)"), PROTOCOL),
    # ------------------------------------------------------------------ expand_mnist.py
    m("shift_wraps", "expand: the row rolled in from the edge is zeros, nothing wraps", EXP,
      ("        out[:, 1:, :] = src[:, :-1, :]\n",
       "        out[:, 1:, :] = src[:, :-1, :]\n        out[:, 0, :] = src[:, -1, :]\n"), EXPAND, PROTOCOL),
    m("shift_order", "expand: copies in the order original, down, up, right, left", EXP,
      ('SHIFTS = ("original", "down", "up", "right", "left")', 'SHIFTS = ("original", "up", "down", "right", "left")'),
      EXPAND, PROTOCOL),
    m("shift_direction", "expand: down moves row r to r + 1", EXP,
      ("    if kind == \"down\":  # row r moves to r + 1; row 0 becomes zeros\n        out[:, 1:, :] = src[:, :-1, :]",
       "    if kind == \"down\":  # row r moves to r + 1; row 0 becomes zeros\n        out[:, :-1, :] = src[:, 1:, :]"),
      EXPAND, PROTOCOL),
    m("expansion_unshuffled", "expand: the 250,000 pairs shuffled once", EXP,
      ("np.random.default_rng(seed).permutation(COPIES * n_images)", "np.arange(COPIES * n_images)"),
      EXPAND, PROTOCOL),
    # ------------------------------------------------------------------ the ensemble's vote
    m("vote_tie_last_seen", "vote: a tie goes to the first-seen label (Counter.most_common)", ENSEMBLE,
      ("for k in range(m - 1, -1, -1):", "for k in range(m):"), VOTE),
    m("vote_tie_lowest_label", "vote: a tie goes to the first-seen label, not the smallest", ENSEMBLE,
      ("return np.where(tied, first_vote, m + 1).argmin(axis=1)", "return tied.argmax(axis=1)"), VOTE),
    # ------------------------------------------------------------------ schedules and stopping rules
    m("steps_start_late", "steps schedule: `at: {11: x}` is eta from epoch 11 on", RULES,
      ("if epoch >= start:", "if epoch > start:"), SCHEDULES, SEMANTICS),
    m("list_off_by_one", "list schedule: etas[0] is epoch 1's", RULES,
      ("schedule.etas[min(epoch, len(schedule.etas)) - 1]", "schedule.etas[min(epoch, len(schedule.etas) - 1)]"),
      SCHEDULES, PROTOCOL),
    m("geometric_exponent", "geometric: eta at epoch 1, eta_end at the last", RULES,
      ("ratio ** ((epoch - 1) / (epochs - 1))", "ratio ** (epoch / epochs)"), SCHEDULES),
    m("halving_late", "halving: after `patience` stale epochs, not patience + 1", RULES,
      ("if stale < schedule.patience:", "if stale <= schedule.patience:"), SCHEDULES, PROTOCOL),
    m("halving_count_kept", "halving: the count restarts at each halving", RULES,
      ("    return eta, 0, stop", "    return eta, stale, stop"), SCHEDULES, PROTOCOL),
    m("halving_stops_late", "halving: stop when eta has fallen to 1/128 of its start", RULES,
      ("stop = eta <= schedule.stop_ratio * eta_start * (1 + 1e-9)",
       "stop = eta < schedule.stop_ratio * eta_start * (1 - 1e-9)"), SCHEDULES, PROTOCOL),
    m("halving_ignores_best", "halving: a new best restarts the count", RULES,
      ("stale = 0 if improved else stale + 1", "stale = stale + 1"), SCHEDULES, PROTOCOL),
    m("loop_halving_counts_from_best", "halving in the loop: counted from the last best or halving", LOOP,
      ("config.eta, progress.plateau[m], improved)", "config.eta, progress.best[m].stale, improved)"),
      PROTOCOL),
    m("no_improvement_late", "no-improvement-in-n: stop after n epochs without a new best", RULES,
      ("return stale >= patience", "return stale > patience"), SCHEDULES, TRAIN, PROTOCOL),
    m("loop_stop_counts_plateau", "early stopping in the loop: epochs since the last new best", LOOP,
      ("stop_reason(config.early_stopping, progress.best[m].stale,",
       "stop_reason(config.early_stopping, progress.plateau[m],"),
      SEMANTICS, TRAIN, PROTOCOL),
    m("min_improvement_window", "min_improvement: against the best before the window", RULES,
      ("before = max(history[:-patience])", "before = history[-patience - 1]"), SCHEDULES, SEMANTICS),
    m("schedule_one_epoch_late", "a schedule's eta of epoch e is used in epoch e", LOOP,
      ("eta_at(config.schedule, config.eta, epoch, config.epochs)",
       "eta_at(config.schedule, config.eta, max(1, epoch - 1), config.epochs)"), SEMANTICS, PROTOCOL),
]


def make_snapshot() -> None:
    """The tree as it is now, once; and the sitecustomize that isolates the copies."""
    if SNAPSHOT.exists():
        shutil.rmtree(SNAPSHOT)
    shutil.copytree(ROOT, SNAPSHOT, ignore=ignored)
    ISOLATE.mkdir(parents=True, exist_ok=True)
    (ISOLATE / "sitecustomize.py").write_text(SITECUSTOMIZE)


def make_copy(name: str) -> Path:
    dest = WORK / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(SNAPSHOT, dest)
    return dest


def environment(copy: Path) -> dict:
    return {**os.environ, "PYTHONPATH": f"{copy}{os.pathsep}{ISOLATE}", "PYTHONDONTWRITEBYTECODE": "1"}


def mutated(mutation: Mutation, root: Path):
    """The mutated text of the file under `root` (read only), or None when an edit does not
    match the source exactly once."""
    path = root / mutation.path
    if not path.is_file():
        return None
    text = path.read_text()
    for old, new in mutation.edits:
        if text.count(old) != 1:
            return None
        text = text.replace(old, new)
    return text


def apply(mutation: Mutation, copy: Path) -> bool:
    """Edit the copy; False when the mutation is stale."""
    text = mutated(mutation, copy)
    if text is not None:
        (copy / mutation.path).write_text(text)
    return text is not None


def pytest(copy: Path, tests: list[str], first: bool, timeout: int) -> tuple[int, str]:
    env = environment(copy)
    args = [str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", *(["-x"] if first else []), *tests]
    try:
        done = subprocess.run(args, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "timed out"
    return done.returncode, done.stdout + done.stderr


def failures(output: str) -> list[str]:
    """The node ids of the short summary's FAILED and ERROR lines."""
    return [hit.group(2) for hit in re.finditer(r"^(FAILED|ERROR) (\S+)", output, re.MULTILINE)]


def baseline(tests: list[str], timeout: int) -> None:
    copy = make_copy("baseline")
    probe = ("import sys, nnbook; print(nnbook.__file__ if not any('_EditableFinder' in getattr(f, '__name__', '') "
             "for f in sys.meta_path) else 'the editable install hook')")
    where = subprocess.run([str(PYTHON), "-c", probe], cwd=copy, env=environment(copy), capture_output=True,
                           text=True).stdout.strip()
    if not where.startswith(str(copy)):
        sys.exit(f"the copy's tests would import nnbook from {where or '?'}, not only from {copy}")
    code, output = pytest(copy, tests, first=True, timeout=timeout)
    if code != 0:
        sys.exit(f"the unmutated copy fails its tests (exit {code}):\n{output[-3000:]}")
    shutil.rmtree(copy)
    print(f"baseline: the unmutated snapshot passes {' '.join(tests)}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutations only")
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests, run nothing")
    parser.add_argument("--golden", action="store_true", help="run tests/test_golden.py too, after the others")
    parser.add_argument("--also", nargs="+", default=[], metavar="TEST", help="run these tests too, after the others")
    parser.add_argument("--exclude", nargs="+", default=[], metavar="TEST",
                        help="leave these test files out (e.g. tests/test_protocol.py: what the suite caught before it)")
    parser.add_argument("--first", action="store_true", help="stop each run at its first failing test")
    parser.add_argument("--keep", action="store_true", help="keep the mutated copies under /tmp/mutants")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per mutation (default 1200)")
    parser.add_argument("--json", type=Path, help="write the results here as well")
    args = parser.parse_args()

    chosen = [mu for mu in MUTATIONS if not args.only or mu.name in args.only]
    unknown = set(args.only or ()) - {mu.name for mu in MUTATIONS}
    if unknown:
        parser.error(f"no mutation named {', '.join(sorted(unknown))}")
    extra = ([GOLDEN] if args.golden else []) + args.also
    chosen = [Mutation(mu.name, mu.rule, mu.path, mu.edits, tuple(t for t in mu.tests if t not in args.exclude))
              for mu in chosen]
    chosen = [mu for mu in chosen if mu.tests or extra]
    if args.list:
        stale = [mu.name for mu in chosen if mutated(mu, ROOT) is None]
        for mu in chosen:
            flag = " (stale)" if mu.name in stale else ""
            print(f"{mu.name + flag:32} {mu.path:32} {mu.rule}\n{'':32} tests: {' '.join(mu.tests + tuple(extra))}")
        return 1 if stale else 0
    make_snapshot()
    if not args.no_baseline:
        baseline(sorted({t for mu in chosen for t in mu.tests} | set(extra)), args.timeout)

    results = []
    for mu in chosen:
        start = time.monotonic()
        copy = make_copy(mu.name)
        if not apply(mu, copy):
            outcome, killers = "stale", []
        else:
            code, output = pytest(copy, list(mu.tests) + extra, args.first, args.timeout)
            outcome = "survived" if code == 0 else "killed" if code in (1, 2) else f"error (exit {code})"
            killers = failures(output)
            if code not in (0, 1) and not killers:
                killers = [output.strip().splitlines()[-1] if output.strip() else "no output"]
        if not args.keep:
            shutil.rmtree(copy, ignore_errors=True)
        seconds = time.monotonic() - start
        results.append({"name": mu.name, "rule": mu.rule, "file": mu.path, "outcome": outcome, "killed_by": killers,
                        "seconds": round(seconds, 1)})
        shown = ", ".join(killers[:4]) + (f" (+{len(killers) - 4} more)" if len(killers) > 4 else "")
        print(f"{outcome:9} {mu.name:32} {shown}", flush=True)

    counts = {o: sum(r["outcome"] == o for r in results) for o in ("killed", "survived", "stale")}
    print(f"\n{counts['killed']} killed, {counts['survived']} survived, {counts['stale']} stale "
          f"of {len(results)} mutations")
    for r in results:
        if r["outcome"] != "killed":
            print(f"  {r['outcome']}: {r['name']} ({r['file']}): {r['rule']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0 if all(r["outcome"] == "killed" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
