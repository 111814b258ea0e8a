"""Docker's word rules: quotes, escapes and substitution."""

from __future__ import annotations

import pytest

from gworker.images.dockerlex import WordError, expand_word, expand_words, split_raw

ENV = {"A": "1", "EMPTY": "", "SP": "x y"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$A", "1"),
        ("${A}b", "1b"),
        ("$Ab", ""),  # the name is Ab, unset
        ("$UNSET", ""),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET:-${A}}", "1"),
        ('${UNSET:-"q u"}', "q u"),
        ("'$A'", "$A"),
        ('"$A"', "1"),
        ('"\\$A"', "$A"),
        ('"a\\nb"', "a\\nb"),  # inside double quotes only " $ and the escape are escaped
        ("\\$A", "$A"),
        ("a\\ b", "a b"),
        ("cost: $", "cost: $"),
        ("$SP", "x y"),
    ],
)
def test_expand_word(text: str, expected: str) -> None:
    assert expand_word(text, ENV) == expected


def test_expand_words_splits_outside_quotes_only() -> None:
    assert expand_words("a 'b c'  \"$SP\" $A", ENV) == ["a", "b c", "x y", "1"]
    assert expand_words("''", ENV) == [""]


def test_backtick_escape() -> None:
    assert expand_word("`$A", ENV, escape="`") == "$A"
    assert expand_word("C:\\dir", ENV, escape="`") == "C:\\dir"


def test_split_raw_keeps_quotes_for_later() -> None:
    assert split_raw("A=\"x y\" B='$c' C=d\\ e") == ['A="x y"', "B='$c'", "C=d\\ e"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'open", "unterminated single quote"),
        ('"open', "unterminated double quote"),
        ("${A", "missing '}'"),
        ("${1}", "bad variable name"),
        ("${A#x}", "unsupported modifier '#'"),
        ("${A/x/y}", "unsupported modifier '/'"),
        ("${UNSET:?needed}", "UNSET: needed"),
        ("${EMPTY?}", ""),
    ],
)
def test_word_errors(text: str, message: str) -> None:
    if text == "${EMPTY?}":
        assert expand_word(text, ENV) == ""  # set (though empty): no error without the colon
        return
    with pytest.raises(WordError, match=message):
        expand_word(text, ENV)
