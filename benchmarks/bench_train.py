"""Training overhead: `workbench.train.train_candidates` against scikit-learn called directly for the same
candidates, preprocessor, folds and holdout (cross_validate with the same metrics on forward-chaining folds by
month, a final fit, a holdout score, the best refitted on all rows), in the same run. workbench also runs its
leakage checks, which the baseline does not: that is part of the overhead measured. Goal: ratio <= 1.1.

    python benchmarks/bench_train.py [--rows 100000] [--folds 3] [--candidates dummy linear gradient_boosting]
"""
import argparse
import time

import numpy as np


def main(rows, folds, names):
    from sklearn.base import clone
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import TimeSeriesSplit, cross_validate
    from sklearn.pipeline import Pipeline

    from workbench.example import make_customers
    from workbench.settings import ProblemSettings, TrainSettings
    from workbench.train import get_candidate, make_split, train_candidates
    from workbench.transform import build_preprocessor

    df = make_customers(n_customers=-(-rows // 12), months=12).head(rows)
    pr = ProblemSettings(target="churned", positive_class="True", time_column="snapshot_month", id_column="customer_id",
                         metric="roc_auc", secondary_metrics=["average_precision"])
    ts = TrainSettings(candidates=names, cv_folds=folds, n_jobs=1)

    def direct():
        split = make_split(df, pr, "auto", ts.test_size)
        test = np.zeros(len(df), bool); test[split.test_index] = True
        X, y = df.drop(columns=["churned"]), df.churned.to_numpy().astype(int)
        Xtr, Xte, ytr, yte = X[~test], X[test], y[~test], y[test]
        pre = build_preprocessor(Xtr, exclude=["customer_id", "snapshot_month"])
        months = np.sort(Xtr.snapshot_month.unique())
        t = Xtr.snapshot_month.to_numpy()
        cv = [(np.flatnonzero(np.isin(t, months[a])), np.flatnonzero(np.isin(t, months[b]))) for a, b in TimeSeriesSplit(folds).split(months)]
        best = None
        for n in names:
            pipe = Pipeline([("prep", clone(pre)), ("model", get_candidate(n).factory("binary", 0, 1))])
            s = cross_validate(pipe, Xtr, ytr, cv=cv, scoring=["roc_auc", "average_precision"])["test_roc_auc"].mean()
            pipe.fit(Xtr, ytr)
            p = pipe.predict_proba(Xte)[:, 1]
            roc_auc_score(yte, p), average_precision_score(yte, p)
            if best is None or s > best[0]: best = (s, pipe)
        clone(best[1]).fit(X, y)

    def ours():
        train_candidates(df, pr, ts)

    times = {"sklearn": [], "workbench": []}
    for _ in range(2):
        for name, fn in (("sklearn", direct), ("workbench", ours)):
            t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
    s, w = min(times["sklearn"]), min(times["workbench"])
    print(f"training {', '.join(names)} on {rows:,} rows, {folds} folds + holdout (best of 2 runs each)")
    print(f"  scikit-learn directly   {s:7.2f} s")
    print(f"  workbench               {w:7.2f} s")
    print(f"  ratio                   {w / s:7.2f}x   (goal <= 1.1x)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--candidates", nargs="+", default=["dummy", "linear", "gradient_boosting"])
    a = ap.parse_args()
    main(a.rows, a.folds, a.candidates)
