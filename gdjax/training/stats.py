"""Comparing two samples of training results, as seed 001 compares momentum with plain SGD.

Seed 001 trains its Fashion-MNIST MLP 22 times with momentum and 22 times
without, keeps each run's MCC, and reports (its ``fmnist_analyze.py``)::

    no momentum: 0.85778 +/- 0.00056
    momentum   : 0.86413 +/- 0.00075

    t-test momentum vs no (t,p): (6.77398299, 0.00000003)
    Mann-Whitney U             : (41.00000000, 0.00000126)
    Cohen's d                  : 2.04243

`compare` computes all of these (plus a normality test of each sample, which
the book runs separately on 100 runs) and `Comparison.table` prints them in
that layout. Training runs are slow and few, so every number here is a plain
float computed on the host in float64; scipy is imported only when a test
needs it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

NORMALTEST_MIN_SIZE = 8
"""``scipy.stats.normaltest`` needs at least 8 values (its skewness test does)."""

KURTOSISTEST_VALID_SIZE = 20
"""Below 20 values the kurtosis half of ``normaltest`` is only approximate."""

_SCIPY_MISSING = "gdjax.training.stats needs scipy: pip install 'gdjax[train]'"


def _scipy_stats() -> Any:
    """``scipy.stats``, imported on first use so that gdjax itself does not need scipy."""
    try:
        from scipy import stats
    except ImportError as err:
        raise ImportError(_SCIPY_MISSING) from err
    return stats


def _sample(x: Any, name: str = "x", minimum: int = 2) -> np.ndarray:
    """``x`` as a 1-D float64 array of at least ``minimum`` finite values, or a ValueError.

    A NaN from a diverged run would silently turn every statistic into NaN, so it is
    refused here with its position instead.
    """
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(
            f"sample {name!r} must be 1-D (one value per run), got shape {array.shape}"
        )
    if array.size < minimum:
        raise ValueError(f"sample {name!r} needs at least {minimum} values, got {array.size}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(
            f"sample {name!r} has {bad.size} non-finite value(s), at index {bad[:10].tolist()}"
        )
    return array


def mean_and_se(x: Any) -> tuple[float, float]:
    """The mean of a sample and the standard error of that mean.

        mean = sum(x) / n
        s²   = sum((x - mean)²) / (n - 1)
        SE   = s / sqrt(n)

    ``s`` is the sample standard deviation (``ddof=1``), as in seed 001's
    ``m.std(ddof=1)/np.sqrt(len(m))``.

    Args:
      x: 1-D sample of at least 2 finite values (e.g. one MCC per training run).

    Returns:
      ``(mean, standard error)`` as Python floats.
    """
    x = _sample(x)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def cohens_d(a: Any, b: Any) -> float:
    """Cohen's d: the difference of the means in units of the pooled standard deviation.

        d   = (mean(a) - mean(b)) / s_p
        s_p = sqrt(((n1 - 1) s1² + (n2 - 1) s2²) / (n1 + n2 - 2))

    with ``s1``, ``s2`` the sample standard deviations (``ddof=1``). Positive
    when ``a``'s mean is larger. Rules of thumb (Cohen 1988): 0.2 small, 0.5
    medium, 0.8 large.

    The book's implementation (seed 001, its ``Cohen_d``) divides by
    ``sqrt((s1² + s2²) / 2)``, the unweighted average of the two variances.
    That equals ``s_p`` when the samples have the same size, as in its 22 + 22
    runs; for unequal sizes this function weights each variance by its degrees
    of freedom, the usual pooled form.

    If both samples are constant, ``s_p`` is 0 and ``d`` is ``±inf`` (different
    means) or ``nan`` (equal means).

    Reference: J. Cohen, *Statistical Power Analysis for the Behavioral
    Sciences*, 2nd ed., 1988.

    Args:
      a: 1-D sample, at least 2 finite values.
      b: 1-D sample, at least 2 finite values.

    Returns:
      ``d`` as a Python float.
    """
    a, b = _sample(a, "a"), _sample(b, "b")
    n1, n2 = a.size, b.size
    pooled_var = ((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((a.mean() - b.mean()) / np.sqrt(pooled_var))


def normality_test(x: Any) -> tuple[float, float] | None:
    """D'Agostino and Pearson's test that a sample comes from a normal distribution.

        K² = Z1(sqrt(b1))² + Z2(b2)²   ~ chi² with 2 degrees of freedom (if normal)

    where ``Z1`` and ``Z2`` turn the sample skewness ``sqrt(b1)`` and
    kurtosis ``b2`` into standard normal scores (``scipy.stats.normaltest``).
    A small p-value (below 0.05 or 0.01) says the sample is *not* normal, as
    seed 001 finds for 100 Fashion-MNIST runs; a large one proves nothing.

    Sample sizes:

    - fewer than 8 values: the skewness test is undefined, so no test is made
      and the result is ``None``;
    - 8 to 19 values: the kurtosis test is only approximate; older scipy versions
      warn "kurtosistest only valid for n>=20". The warning is suppressed here
      (it would fire on every comparison of a handful of runs), so read such
      p-values as rough;
    - 20 or more: the test as published.

    References: R. B. D'Agostino, *An omnibus test of normality for moderate and
    large sample size*, Biometrika 58, 1971; R. D'Agostino and E. S. Pearson,
    *Tests for departure from normality*, Biometrika 60, 1973.

    Args:
      x: 1-D sample of finite values.

    Returns:
      ``(statistic K², p-value)``, or ``None`` for fewer than 8 values.
    """
    x = _sample(x, minimum=1)
    if x.size < NORMALTEST_MIN_SIZE:
        return None
    stats = _scipy_stats()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*kurtosistest.*")
        statistic, pvalue = stats.normaltest(x)
    return float(statistic), float(pvalue)


class Comparison(NamedTuple):
    """Everything `compare` computes about two samples ``a`` and ``b``.

    Attributes:
      name_a: label of ``a`` in the table.
      name_b: label of ``b`` in the table.
      n_a: size of ``a``.
      n_b: size of ``b``.
      mean_a: mean of ``a``.
      se_a: standard error of ``a``'s mean.
      mean_b: mean of ``b``.
      se_b: standard error of ``b``'s mean.
      t: t statistic of ``a`` against ``b`` (positive when ``a``'s mean is larger).
      t_pvalue: its two-sided p-value.
      u: Mann-Whitney U statistic of ``a`` (the number of pairs in which ``a``'s
        value is larger, ties counting one half); ``b``'s is ``n_a * n_b - u``.
      u_pvalue: its two-sided p-value.
      d: Cohen's d of ``a`` against ``b``.
      normal_a: ``(K², p)`` of the normality test of ``a``; ``None`` below 8 values.
      normal_b: the same for ``b``.
      equal_var: True for Student's t-test, False for Welch's.
    """

    name_a: str
    name_b: str
    n_a: int
    n_b: int
    mean_a: float
    se_a: float
    mean_b: float
    se_b: float
    t: float
    t_pvalue: float
    u: float
    u_pvalue: float
    d: float
    normal_a: tuple[float, float] | None
    normal_b: tuple[float, float] | None
    equal_var: bool = True

    def table(self) -> str:
        """The book's report in English, labels padded so the colons line up::

            momentum   : 0.86413 +/- 0.00075
            no momentum: 0.85778 +/- 0.00056

            t-test momentum vs no momentum (t, p): (6.77398299, 0.00000003)
            Mann-Whitney U (U, p)                : (443.00000000, 0.00000252)
            Cohen's d                            : 2.04243
            normality (momentum)                 : (1.23456789, 0.53935411)
            normality (no momentum)              : (0.65432109, 0.72098765)

        Means and standard errors with 5 decimals, statistics and p-values with
        8, Cohen's d with 5, as the book prints them. A sample of fewer than 8
        values gets ``not tested (n = 5 < 8)`` on its normality line.
        """
        means = [
            (self.name_a, f"{self.mean_a:.5f} +/- {self.se_a:.5f}"),
            (self.name_b, f"{self.mean_b:.5f} +/- {self.se_b:.5f}"),
        ]
        test = "t-test" if self.equal_var else "Welch's t-test"
        tests = [
            (f"{test} {self.name_a} vs {self.name_b} (t, p)", _pair(self.t, self.t_pvalue)),
            ("Mann-Whitney U (U, p)", _pair(self.u, self.u_pvalue)),
            ("Cohen's d", f"{self.d:.5f}"),
        ]
        for name, n, normal in (
            (self.name_a, self.n_a, self.normal_a),
            (self.name_b, self.n_b, self.normal_b),
        ):
            if normal is None:
                tests.append(
                    (f"normality ({name})", f"not tested (n = {n} < {NORMALTEST_MIN_SIZE})")
                )
            else:
                tests.append((f"normality ({name})", _pair(*normal)))
        return _aligned(means) + "\n\n" + _aligned(tests)

    def __str__(self) -> str:
        return self.table()


def _pair(statistic: float, pvalue: float) -> str:
    return f"({statistic:.8f}, {pvalue:.8f})"


def _aligned(rows: Sequence[tuple[str, str]]) -> str:
    """``label: value`` lines with the labels padded to one width, as the book lays them out."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}: {value}" for label, value in rows)


def compare(
    a: Any,
    b: Any,
    names: tuple[str, str] = ("a", "b"),
    *,
    equal_var: bool = True,
) -> Comparison:
    """Compares two samples (e.g. the MCC of 22 runs with momentum and 22 without).

    Computes, for ``a`` against ``b``:

    - each sample's mean and the standard error of its mean (`mean_and_se`);
    - the two-sample t-test, ``scipy.stats.ttest_ind(a, b, equal_var=equal_var)``:
      Student's (Student 1908), pooled variance, the book's choice and scipy's
      default, or with ``equal_var=False`` Welch's (Welch 1947), which does not
      assume equal variances:

          t = (mean(a) - mean(b)) / (s_p sqrt(1/n1 + 1/n2))           Student
          t = (mean(a) - mean(b)) / sqrt(s1²/n1 + s2²/n2)             Welch

    - the Mann-Whitney U test (Mann & Whitney 1947),
      ``scipy.stats.mannwhitneyu(a, b, alternative="two-sided")``: it compares
      ranks and assumes no distribution, which is why the book adds it to the
      t-test for 22 runs whose histogram does not look normal;

          U_a = #{(i, j): a_i > b_j} + #{(i, j): a_i = b_j} / 2

    - Cohen's d (`cohens_d`, Cohen 1988);
    - each sample's normality test (`normality_test`, D'Agostino & Pearson 1973);
      ``None`` for a sample of fewer than 8 values.

    Put the sample you expect to be better first: t and d are then positive
    when it is, as in the book ("momentum first").

    The book's Mann-Whitney line reads ``(41.00000000, 0.00000126)``: scipy
    before 1.7 returned the smaller of the two U statistics and, by default, a
    one-sided p-value. This function reports ``a``'s U (scipy's current
    convention; the smaller one is ``min(u, n_a * n_b - u)``) and the two-sided
    p-value, which is twice the book's one-sided value for the same data.

    References: Student, *The probable error of a mean*, Biometrika 6, 1908;
    B. L. Welch, *The generalization of "Student's" problem when several different
    population variances are involved*, Biometrika 34, 1947; H. B. Mann and
    D. R. Whitney, *On a test of whether one of two random variables is
    stochastically larger than the other*, Ann. Math. Statist. 18, 1947;
    J. Cohen, 1988; R. D'Agostino and E. S. Pearson, Biometrika 60, 1973.

    Args:
      a: 1-D sample, at least 2 finite values.
      b: 1-D sample, at least 2 finite values.
      names: the two samples' labels in `Comparison.table`. Default ``("a", "b")``.
      equal_var: Student's t-test (True, the default) or Welch's (False).

    Returns:
      `Comparison`; ``print(result)`` shows its table.
    """
    if len(names) != 2 or not all(isinstance(name, str) for name in names):
        raise ValueError(f"compare: names must be two strings, got {names!r}")
    if not isinstance(equal_var, bool):
        raise ValueError(f"compare: equal_var must be True or False, got {equal_var!r}")
    a, b = _sample(a, names[0]), _sample(b, names[1])
    stats = _scipy_stats()
    t, t_pvalue = stats.ttest_ind(a, b, equal_var=equal_var)
    u, u_pvalue = stats.mannwhitneyu(a, b, alternative="two-sided")
    return Comparison(
        names[0],
        names[1],
        a.size,
        b.size,
        *mean_and_se(a),
        *mean_and_se(b),
        float(t),
        float(t_pvalue),
        float(u),
        float(u_pvalue),
        cohens_d(a, b),
        normality_test(a),
        normality_test(b),
        equal_var,
    )


def holm(pvalues: Any) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values of a family of tests (Holm 1979).

    Sort the ``m`` p-values ascending, ``p(1) ≤ ... ≤ p(m)``; then

        adjusted p(i) = max over j ≤ i of min(1, (m − j + 1) p(j))

    and each is returned at its test's place. Rejecting the tests whose
    adjusted p-value is below α keeps the family-wise error rate at α, with no
    assumption on how the tests depend on each other, and rejects at least as
    much as Bonferroni's ``m p``. The benchmark corrects its pairwise
    comparisons of optimizers on each problem with it.

    Reference: S. Holm, *A simple sequentially rejective multiple test
    procedure*, Scandinavian Journal of Statistics 6, 1979.

    Args:
      pvalues: 1-D p-values, each in [0, 1] (may be empty).

    Returns:
      The adjusted p-values, float64, in the order given.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"holm: pvalues must be 1-D, got shape {p.shape}")
    bad = np.flatnonzero(~((p >= 0) & (p <= 1)))
    if bad.size:
        raise ValueError(
            f"holm: pvalues must lie in [0, 1], got {p[bad[:5]].tolist()} at index "
            f"{bad[:5].tolist()}"
        )
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted
