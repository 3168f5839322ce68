import pytest

from bnlint.suppression import is_suppressed, parse_comment, parse_suppressions


@pytest.mark.parametrize("comment, expected", [
    ("# noqa", None),
    ("# NOQA", None),
    ("#noqa:BN001", frozenset({"BN001"})),
    ("# noqa: BN001,BN003", frozenset({"BN001", "BN003"})),
    ("# noqa: bn001 BN003", frozenset({"BN001", "BN003"})),
    ("# noqa: E501, BN002", frozenset({"E501", "BN002"})),
    ("# bnlint: ignore[BN001]", frozenset({"BN001"})),
    ("# bnlint: ignore[BN001, BN002]", frozenset({"BN001", "BN002"})),
    ("# just a comment about noqa-less code", False),
    ("# TODO", False),
])
def test_comment_forms(comment, expected):
    assert parse_comment(comment) == expected


def test_only_real_comments_count_not_strings():
    text = 's = "# noqa: BN001"\nx = 1  # noqa: BN003\n'
    assert parse_suppressions(text) == {2: frozenset({"BN003"})}


def test_codes_match_exactly_and_blanket_matches_all():
    sup = {3: frozenset({"BN001"}), 5: None}
    assert is_suppressed(sup, "BN001", 3)
    assert not is_suppressed(sup, "BN002", 3)
    assert not is_suppressed(sup, "BN0", 4)
    assert is_suppressed(sup, "BN104", 9, 5)


def test_unterminated_code_still_yields_its_comments():
    text = "x = 1  # noqa: BN005\ny = (\n"
    assert parse_suppressions(text) == {1: frozenset({"BN005"})}
