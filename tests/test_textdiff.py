"""Minimal text edits: they reproduce the target and leave untouched lines alone."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from ledger._textdiff import apply_edits, merge3, text_edits

texts = st.text(alphabet=st.sampled_from("ab\n é😀"), max_size=60)


@given(texts, texts)
def test_edits_turn_old_into_new(old: str, new: str) -> None:
    edits = text_edits(old, new)
    assert apply_edits(old, edits) == new
    starts = [e[0] for e in edits]
    assert starts == sorted(starts)
    for (_, end, _), (start, _, _) in itertools.pairwise(edits):
        assert end <= start


def test_identical_texts_need_no_edit() -> None:
    assert text_edits("same\ntext", "same\ntext") == []


def test_changing_two_lines_leaves_the_middle_line_out_of_every_edit() -> None:
    old = "alpha line\nmiddle line stays\nomega line\n"
    new = "ALPHA line\nmiddle line stays\nomega LINE\n"
    edits = text_edits(old, new)
    middle_start = old.index("middle")
    middle_end = middle_start + len("middle line stays")
    for start, end, _ in edits:
        assert end <= middle_start or start >= middle_end
    assert apply_edits(old, edits) == new


# Distinct lines: with repeated lines, which copy an edit touched is ambiguous.
lines = st.lists(
    st.sampled_from(["a\n", "b\n", "c\n", "d\n", "é😀\n", "\n"]), max_size=6, unique=True
)


@given(texts, texts)
def test_merge3_with_one_side_unchanged_takes_the_other(base: str, other: str) -> None:
    assert merge3(base, other, base) == other
    assert merge3(base, base, other) == other
    assert merge3(base, other, other) == other


@given(lines, st.data())
def test_merge3_keeps_both_sides_edits_of_different_lines(
    base: list[str], data: st.DataObject
) -> None:
    if len(base) < 2:
        return
    i = data.draw(st.integers(0, len(base) - 1))
    j = data.draw(st.integers(0, len(base) - 1).filter(lambda n: abs(n - i) > 1))
    ours, theirs = list(base), list(base)
    ours[i] = "OURS\n"
    theirs[j] = "THEIRS\n"
    merged = merge3("".join(base), "".join(ours), "".join(theirs))
    expected = list(base)
    expected[i], expected[j] = "OURS\n", "THEIRS\n"
    assert merged == "".join(expected)


def test_merge3_prefers_ours_where_both_changed_the_same_characters() -> None:
    assert merge3("abc def", "abX def", "abc dYf") == "abX dYf"
    assert merge3("abc", "aXc", "aYc") == "aXc"


def test_merge3_gives_up_character_merging_on_huge_chunks() -> None:
    base = "x" * 50_000
    merged = merge3(base, "X" + base[1:], base[:-1] + "Y")
    assert merged == "X" + base[1:]  # ours wins the chunk both changed, at once
