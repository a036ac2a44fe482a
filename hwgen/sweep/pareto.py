"""The Pareto front of a sweep (the highest accuracy for the cost), and the recommended
point: the cheapest that meets an accuracy."""
from __future__ import annotations


def pareto(rows: list[dict], cost: str, gain: str = "accuracy_reference") -> list[bool]:
    """For each row, whether no other row is at least as good in `gain` (higher) and in
    `cost` (lower) and better in one of them. Rows without both values are off the front."""
    def ok(r):
        return r.get(cost) is not None and r.get(gain) is not None

    flags = []
    for r in rows:
        if not ok(r):
            flags.append(False)
            continue
        dominated = any(ok(o) and o is not r and o[gain] >= r[gain] and o[cost] <= r[cost]
                        and (o[gain] > r[gain] or o[cost] < r[cost]) for o in rows)
        flags.append(not dominated)
    return flags


def recommend(rows: list[dict], min_accuracy: float | None, cost: str,
              gain: str = "accuracy_reference") -> dict | None:
    """The row of least `cost` whose `gain` is at least `min_accuracy` (without one: the
    most accurate, the cheaper of equals); None if no row qualifies."""
    done = [r for r in rows if r.get(cost) is not None and r.get(gain) is not None]
    if min_accuracy is not None:
        done = [r for r in done if r[gain] >= min_accuracy]
        return min(done, key=lambda r: (r[cost], -r[gain]), default=None)
    return max(done, key=lambda r: (r[gain], -r[cost]), default=None)
