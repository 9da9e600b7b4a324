"""The wire's pure parser: IMAP answers as pieces in, values out (no server).

Answers are shaped as the reader hands them over: the text before a literal
ends with its `{n}`, the literal's bytes follow as a `Literal`.
"""

from __future__ import annotations

import pytest

from kimt.core.wire._protocol import (
    Literal,
    Malformed,
    fetch_items,
    flag_names,
    folder_name,
    literal_size,
    number,
    parse_uid_set,
    response_codes,
    status_items,
    uid_set,
)

BODY = b"From: a@example.com\r\nSubject: (parens) \"quotes\" {5}\r\n\r\nbody ) ( {3}\r\n"


def test_a_body_literal_is_taken_whole_whatever_it_holds():
    parts = [b"* 12 FETCH (UID 34 BODY[] {%d}" % len(BODY), Literal(BODY), b")"]
    seq, items = fetch_items(parts)
    assert seq == 12
    assert items[b"UID"] == b"34"
    assert items[b"BODY[]"] == BODY


def test_a_key_listing_answer_in_any_item_order():
    headers = b"Message-ID: <a@b>\r\nSubject: hi\r\n\r\n"
    parts = [b'* 3 FETCH (FLAGS (\\Seen $Label1 \\*) RFC822.SIZE 1234 '
             b'INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
             b"BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] {%d}" % len(headers),
             Literal(headers), b" UID 7)"]
    _, items = fetch_items(parts)
    assert number(items[b"UID"], "UID") == 7
    assert number(items[b"RFC822.SIZE"], "RFC822.SIZE") == 1234
    assert flag_names(items[b"FLAGS"]) == ("\\Seen", "$Label1", "\\*")
    assert items[b"INTERNALDATE"] == b"17-Jul-1996 02:44:25 -0700"
    assert items[b"BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)]"] == headers


def test_nil_empty_lists_and_escaped_quotes():
    _, items = fetch_items([b'* 1 FETCH (UID 1 FLAGS () X-NAME "a \\"b\\" \\\\c" '
                            b'BODY[] NIL)'])
    assert items[b"FLAGS"] == ()
    assert items[b"X-NAME"] == b'a "b" \\c'
    assert items[b"BODY[]"] is None


def test_an_answer_that_ends_early_or_is_no_fetch_is_malformed():
    with pytest.raises(Malformed):
        fetch_items([b"* 1 FETCH (UID 1 FLAGS (\\Seen"])
    with pytest.raises(Malformed):
        fetch_items([b"* 1 EXISTS"])
    with pytest.raises(Malformed, match="RFC822.SIZE"):
        number(b"12x", "RFC822.SIZE")


def test_a_stray_byte_is_malformed_and_named():
    with pytest.raises(Malformed, match=r"unexpected b'\\tFLAGS"):
        fetch_items([b"* 1 FETCH (UID 1\tFLAGS ())"])
    with pytest.raises(Malformed, match=r"unexpected b' \{oops\)'"):
        fetch_items([b"* 1 FETCH (UID 1 X {oops)"])


def test_literal_size_reads_both_forms():
    assert literal_size(b"* 1 FETCH (BODY[] {123}") == 123
    assert literal_size(b"A1 APPEND INBOX {9+}") == 9
    assert literal_size(b"* OK done") is None
    assert literal_size(b"* OK braces {x}") is None


def test_status_answers_with_quoted_atom_and_literal_names():
    name, values = status_items([b'* STATUS "Sent Items" (MESSAGES 3 UIDNEXT 9 '
                                 b'UIDVALIDITY 77 HIGHESTMODSEQ 12)'])
    assert name == b"Sent Items"
    assert values == {b"MESSAGES": 3, b"UIDNEXT": 9, b"UIDVALIDITY": 77,
                      b"HIGHESTMODSEQ": 12}
    assert status_items([b"* STATUS INBOX (MESSAGES 0)"])[0] == b"INBOX"
    assert status_items([b"* STATUS {5}", Literal(b"a b c"), b" (MESSAGES 1)"]) == (
        b"a b c", {b"MESSAGES": 1})
    # brackets are atom characters (Dovecot sends Gmail-like names unquoted)
    assert status_items([b"* STATUS [Gmail]/Spam (MESSAGES 1 UIDNEXT 2)"]) == (
        b"[Gmail]/Spam", {b"MESSAGES": 1, b"UIDNEXT": 2})
    assert status_items([b"* STATUS [Gmail] (MESSAGES 0)"])[0] == b"[Gmail]"


def test_response_codes():
    codes = response_codes(b"[APPENDUID 38505 3955:3957] APPEND completed")
    assert codes == {b"APPENDUID": b"38505 3955:3957"}
    assert response_codes(b"[READ-WRITE] ok") == {b"READ-WRITE": b""}
    assert response_codes(b"[PERMANENTFLAGS (\\Seen \\*)] Flags")[b"PERMANENTFLAGS"] == (
        b"(\\Seen \\*)")


def test_uid_sets_both_ways():
    assert uid_set([9, 1, 2, 3, 7, 10, 11]) == b"1:3,7,9:11"
    assert parse_uid_set("5:7,9") == [5, 6, 7, 9]
    assert parse_uid_set("7:5") == [5, 6, 7]


def test_folder_names_are_modified_utf7_and_quoted():
    assert folder_name("Účty/Faktury") == b'"&ANoBDQ-ty/Faktury"'
    assert folder_name('Tom "&" Jerry') == b'"Tom \\"&-\\" Jerry"'
    assert folder_name("back\\slash") == b'"back\\\\slash"'
