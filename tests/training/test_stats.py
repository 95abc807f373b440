import math
import re
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from gdjax.training import stats

# Two fixed samples shaped like seed 001's: 22 MCC values with and without momentum.
_rng = np.random.default_rng(2024)
MOMENTUM = 0.864 + 0.0035 * _rng.standard_normal(22)
PLAIN = 0.858 + 0.0026 * _rng.standard_normal(22)


def test_mean_and_se_is_the_books_formula():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    mean, se = stats.mean_and_se(x)
    assert mean == pytest.approx(3.5)
    # s² = (6.25 + 2.25 + 0.25 + 12.25) / 3 = 7, SE = sqrt(7) / 2
    assert se == pytest.approx(math.sqrt(7) / 2)
    assert se == pytest.approx(scipy_stats.sem(x))


def test_cohens_d_by_hand_and_pooled_with_unequal_sizes():
    a = np.array([2.0, 4.0, 6.0])  # mean 4, s² 4
    b = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # mean 3, s² 2.5
    pooled = math.sqrt((2 * 4.0 + 4 * 2.5) / 6)  # sqrt(3)
    assert stats.cohens_d(a, b) == pytest.approx(1 / pooled)
    assert stats.cohens_d(b, a) == pytest.approx(-1 / pooled)


def test_cohens_d_equals_the_books_average_variance_form_for_equal_sizes():
    # The book's Cohen_d divides by sqrt((s1² + s2²) / 2); with n1 == n2 that is s_p.
    book = (MOMENTUM.mean() - PLAIN.mean()) / math.sqrt(
        0.5 * (MOMENTUM.var(ddof=1) + PLAIN.var(ddof=1))
    )
    assert stats.cohens_d(MOMENTUM, PLAIN) == pytest.approx(book, rel=1e-12)


def test_books_printed_numbers_are_consistent_with_the_pooled_d():
    # With n1 = n2 = n, Student's t = d sqrt(n / 2): the book's t = 6.77398299 gives its
    # d = 2.04243 (22 runs each), so its d uses the ddof=1 pooled/average variance.
    assert 6.77398299 * math.sqrt(2 / 22) == pytest.approx(2.04243, abs=5e-6)


def test_compare_matches_scipy():
    result = stats.compare(MOMENTUM, PLAIN, names=("momentum", "no momentum"))
    t = scipy_stats.ttest_ind(MOMENTUM, PLAIN)
    u = scipy_stats.mannwhitneyu(MOMENTUM, PLAIN, alternative="two-sided")
    assert (result.t, result.t_pvalue) == pytest.approx((t.statistic, t.pvalue), rel=1e-12)
    assert (result.u, result.u_pvalue) == pytest.approx((u.statistic, u.pvalue), rel=1e-12)
    assert result.mean_a == pytest.approx(MOMENTUM.mean())
    assert result.se_b == pytest.approx(scipy_stats.sem(PLAIN))
    assert result.d == pytest.approx(stats.cohens_d(MOMENTUM, PLAIN))
    for sample, normal in ((MOMENTUM, result.normal_a), (PLAIN, result.normal_b)):
        assert normal == pytest.approx(tuple(scipy_stats.normaltest(sample)), rel=1e-12)
    assert (result.n_a, result.n_b, result.equal_var) == (22, 22, True)
    assert result.t > 0 and result.d > 0  # the better sample first: positive, as in the book


def test_welch_option():
    result = stats.compare(MOMENTUM, PLAIN[:15], equal_var=False)
    welch = scipy_stats.ttest_ind(MOMENTUM, PLAIN[:15], equal_var=False)
    assert (result.t, result.t_pvalue) == pytest.approx(tuple(welch), rel=1e-12)
    assert "Welch's t-test a vs b (t, p)" in result.table()


def test_table_prints_the_books_layout():
    result = stats.Comparison(
        "momentum", "no momentum", 22, 7, 0.864126, 0.000754, 0.857781, 0.000561,
        6.773982994, 3.06e-8, 443.0, 2.523e-6, 2.0424327, (1.5, 0.4723665527), None,
    )  # fmt: skip
    expected = (
        "momentum   : 0.86413 +/- 0.00075\n"
        "no momentum: 0.85778 +/- 0.00056\n"
        "\n"
        "t-test momentum vs no momentum (t, p): (6.77398299, 0.00000003)\n"
        "Mann-Whitney U (U, p)                : (443.00000000, 0.00000252)\n"
        "Cohen's d                            : 2.04243\n"
        "normality (momentum)                 : (1.50000000, 0.47236655)\n"
        "normality (no momentum)              : not tested (n = 7 < 8)"
    )
    assert result.table() == expected
    assert str(result) == expected


def test_compare_table_has_every_line():
    lines = stats.compare(MOMENTUM, PLAIN, names=("momentum", "plain")).table().splitlines()
    labels = [line.split(":")[0].rstrip() for line in lines if line]
    assert labels == [
        "momentum",
        "plain",
        "t-test momentum vs plain (t, p)",
        "Mann-Whitney U (U, p)",
        "Cohen's d",
        "normality (momentum)",
        "normality (plain)",
    ]
    assert len({line.index(":") for line in lines[3:]}) == 1  # colons aligned


def test_normality_skipped_below_8_samples_and_quiet_from_8_to_19():
    assert stats.normality_test(PLAIN[:7]) is None
    short = stats.compare(MOMENTUM[:5], PLAIN[:7], names=("m", "p"))
    assert short.normal_a is None and short.normal_b is None
    assert re.search(r"normality \(m\) *: not tested \(n = 5 < 8\)", short.table())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any scipy warning about n < 20 would fail here
        for n in (8, 12, 19):
            assert stats.normality_test(PLAIN[:n]) == pytest.approx(
                tuple(scipy_stats.normaltest(PLAIN[:n])), rel=1e-12
            )


def test_old_scipys_kurtosistest_warning_is_suppressed(monkeypatch):
    # scipy < 1.17 warns from normaltest for 8 <= n < 20; newer versions do not, so
    # stand in for an old one.
    real = scipy_stats.normaltest

    def old_normaltest(x):
        warnings.warn(
            f"kurtosistest only valid for n>=20 ... continuing anyway, n={len(x)}", stacklevel=2
        )
        return real(x)

    monkeypatch.setattr(scipy_stats, "normaltest", old_normaltest)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats.normality_test(PLAIN[:12]) == pytest.approx(tuple(real(PLAIN[:12])))


@pytest.mark.parametrize(
    "bad,message",
    [
        ([1.0], "at least 2 values"),
        ([[1.0, 2.0], [3.0, 4.0]], "must be 1-D"),
        ([1.0, float("nan"), 2.0], "non-finite value(s), at index [1]"),
    ],
)
def test_bad_samples_are_refused_with_their_name(bad, message):
    with pytest.raises(ValueError, match="'plain'") as info:
        stats.compare(MOMENTUM, bad, names=("momentum", "plain"))
    assert message in str(info.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="names"):
        stats.compare(MOMENTUM, PLAIN, names=("only one",))
    with pytest.raises(ValueError, match="equal_var"):
        stats.compare(MOMENTUM, PLAIN, equal_var="yes")


def test_missing_scipy_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("no scipy here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    with pytest.raises(ImportError, match=r"pip install 'gdjax\[train\]'"):
        stats.compare(MOMENTUM, PLAIN)
    assert stats.mean_and_se(PLAIN)  # numpy-only functions still work
