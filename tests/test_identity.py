"""Message keys and the multiset difference, without a server."""

from __future__ import annotations

import pytest

from kimt.core.identity import (
    MessageInfo,
    body_hash,
    header_fields,
    loose_match,
    message_key,
    plan_copy,
)


def key_of(headers: bytes) -> str:
    return message_key(header_fields(headers))


def info(uid: int, key: str) -> MessageInfo:
    return MessageInfo(uid=uid, key=key, size=100, flags=(), internaldate=None)


def test_key_ignores_what_servers_rewrite():
    a = (b"Message-ID: <abc@x.cz>\r\nDate: Mon, 01 May 2023 12:00:00 +0200\r\n"
         b"From: =?utf-8?q?Jan_Nov=C3=A1k?= <Jan@X.cz>\r\nSubject: =?utf-8?q?Dobr=C3=BD?=\r\n"
         b" den\r\n\r\n")
    # Same message as another server may present it: folded differently, other encoding,
    # the same instant in another zone, header order changed.
    b = (b"Subject: Dobr\xc3\xbd den\r\nFrom: \"Jan Nov\xc3\xa1k\" <jan@x.cz>\r\n"
         b"Date: Mon, 1 May 2023 10:00:00 +0000\r\nMessage-ID:   <abc@x.cz>\r\n\r\n")
    assert key_of(a) == key_of(b)


def test_key_differs_when_content_headers_differ():
    base = b"Message-ID: <1@x>\r\nDate: Mon, 01 May 2023 12:00:00 +0200\r\nSubject: A\r\n\r\n"
    assert key_of(base) != key_of(base.replace(b"Subject: A", b"Subject: B"))
    assert key_of(base) != key_of(base.replace(b"<1@x>", b"<2@x>"))
    assert key_of(base) != key_of(base.replace(b"12:00:00", b"12:00:01"))


def test_key_survives_garbage_headers():
    for raw in (b"", b"\xff\xfe\x00garbage", b"Date: not a date\r\nFrom: <<>>\r\n\r\n",
                b"Subject: =?bogus?x?zz?=\r\n\r\n"):
        assert len(key_of(raw)) == 24


def test_plan_copies_only_the_difference():
    src = [info(1, "a"), info(2, "b"), info(3, "c")]
    dst = [info(10, "b"), info(11, "z")]
    plan = plan_copy(src, dst, lambda u: {}, lambda u: {})
    assert [m.uid for m in plan.to_copy] == [1, 3]
    assert plan.already_there == 1


def test_identical_twins_are_counted_not_collapsed():
    src = [info(1, "t"), info(2, "t")]
    hashes = {1: "h", 2: "h"}
    first = plan_copy(src, [], lambda u: hashes, lambda u: {})
    assert [m.uid for m in first.to_copy] == [1, 2]
    half = plan_copy(src, [info(9, "t")], lambda u: {u_: "h" for u_ in u},
                     lambda u: {9: "h"})
    assert len(half.to_copy) == 1 and half.already_there == 1
    full = plan_copy(src, [info(9, "t"), info(8, "t")], lambda u: {u_: "h" for u_ in u},
                     lambda u: {9: "h", 8: "h"})
    assert full.to_copy == [] and full.already_there == 2


def test_same_key_different_bodies_are_told_apart():
    src = [info(1, "d"), info(2, "d")]  # two drafts with equal headers, different bodies
    dst = [info(7, "d")]
    plan = plan_copy(src, dst, lambda u: {1: "A", 2: "B"}, lambda u: {7: "B"})
    assert [m.uid for m in plan.to_copy] == [1]


def test_body_hash_ignores_line_ending_style():
    assert body_hash(b"a\r\nb\r\n") == body_hash(b"a\nb\n")
    assert body_hash(b"a\r\nb\r\n") != body_hash(b"a\r\nc\r\n")


def test_flags_follow_permanentflags():
    from kimt.core.flags import filter_flags

    flags = ("\\Seen", "\\Recent", "$Forwarded", "\\Flagged")
    assert filter_flags(flags, None) == (["\\Seen", "$Forwarded", "\\Flagged"], [])
    assert filter_flags(flags, {"\\seen", "\\Flagged", "\\*"}) == (
        ["\\Seen", "$Forwarded", "\\Flagged"], [])
    assert filter_flags(flags, {"\\Seen", "\\Flagged"}) == (
        ["\\Seen", "\\Flagged"], ["$Forwarded"])
    assert filter_flags(flags, set()) == ([], ["\\Seen", "$Forwarded", "\\Flagged"])


def full(uid: int, key: str, *, msgid: str = "", instant: str = "1683000000",
         sender: str = "a@x.cz", size: int = 1000) -> MessageInfo:
    return MessageInfo(uid=uid, key=key, size=size, flags=(), internaldate=None,
                       message_id=msgid, sender=sender, instant=instant)


def test_loose_match_pairs_by_message_id_then_date_sender_size():
    src = [full(1, "s1", msgid="a@x"), full(2, "s2"), full(3, "s3", instant="99")]
    dst = [full(10, "d1", msgid="a@x", size=1300), full(11, "d2", size=1200),
           full(12, "d3", instant="99", size=90_000)]  # same date, far too big
    assert loose_match(src, dst) == {1: 10, 2: 11}


def test_loose_match_takes_each_destination_message_once():
    src = [full(1, "s1", msgid="same@x"), full(2, "s2", msgid="same@x")]
    assert loose_match(src, [full(10, "d", msgid="same@x")]) == {1: 10}


def test_loose_match_an_altered_message_id_needs_the_exact_size():
    src = [full(1, "s1", msgid="účet@x", size=500)]
    assert loose_match(src, [full(10, "d", msgid="XXXet@x", size=500)]) == {1: 10}
    assert loose_match(src, [full(10, "d", msgid="XXXet@x", size=501)]) == {}
    ascii_id = [full(1, "s1", msgid="plain@x", size=500)]  # an ASCII id is never altered
    assert loose_match(ascii_id, [full(10, "d", msgid="other@x", size=500)]) == {}


def test_loose_match_without_anything_to_go_by_copies():
    src = [full(1, "s1", instant="", sender="")]
    assert loose_match(src, [full(10, "d", instant="", sender="")]) == {}


@pytest.mark.parametrize("value", [
    "John Doe <JD@Example.com>", "jd@example.com", "  <jd@example.com>  ",
    '"Doe, John" <j@x.com>', "j@x.com (John)", "undisclosed-recipients:;",
    "A <a@x>, B <b@y>", "<weird>", "name@", "a@b@c", "", "Mr. X <x@y.z>",
    "Jérôme Ü <jj@x.fr>",
])
def test_the_quick_sender_reading_agrees_with_the_email_package(value):
    from email.utils import getaddresses

    from kimt.core.identity import key_parts

    fields = {"message-id": "", "date": "", "from": value, "subject": ""}
    addresses = [a.lower() for _, a in getaddresses([value]) if a]
    expected = ",".join(addresses) if addresses else value.lower()
    assert key_parts(fields)[2] == expected
