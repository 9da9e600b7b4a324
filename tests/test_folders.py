"""Folder name mapping between layouts, without a server."""

from __future__ import annotations

from kimt.core.folders import Folder, Layout, Listing, map_folders


def listing(layout: Layout, *specs: tuple[str, tuple[str, ...]] | str) -> Listing:
    folders = []
    for spec in specs:
        name, flags = (spec, ()) if isinstance(spec, str) else spec
        folders.append(Folder(name, layout.parts(name), frozenset(flags), True))
    return Listing(layout, folders)


def targets(maps) -> dict[str, str]:
    return {m.source.display: m.destination_name for m in maps}


def test_dot_prefix_to_slash_and_back():
    courier = Layout("INBOX.", ".")
    plain = Layout("", "/")
    src = listing(courier, "INBOX", "INBOX.Účty.Faktury 2023", "INBOX.Tom & Jerry")
    maps = map_folders(src, listing(plain, "INBOX"), special_use_create=False)
    assert targets(maps) == {"INBOX": "INBOX", "Účty/Faktury 2023": "Účty/Faktury 2023",
                             "Tom & Jerry": "Tom & Jerry"}
    back = map_folders(listing(plain, "INBOX", "a/b"), listing(courier, "INBOX"), False)
    assert targets(back) == {"INBOX": "INBOX", "a/b": "INBOX.a.b"}


def test_special_folders_follow_the_destination():
    plain = Layout("", "/")
    src = listing(plain, "INBOX", "Sent Items", "Sent Items/2019", "Deleted Items",
                  ("Mes brouillons", ("\\Drafts",)), "Junk E-mail", "Notes")
    dst = listing(plain, "INBOX", ("Sent", ("\\Sent",)), ("Trash", ("\\Trash",)),
                  ("Drafts", ("\\Drafts",)), "Junk")
    t = targets(map_folders(src, dst, special_use_create=True))
    assert t["Sent Items"] == "Sent"
    assert t["Sent Items/2019"] == "Sent/2019"
    assert t["Deleted Items"] == "Trash"
    assert t["Mes brouillons"] == "Drafts"
    assert t["Junk E-mail"] == "Junk"  # by well-known name on both sides
    assert t["Notes"] == "Notes"


def test_special_folder_without_a_destination_holder_is_created_with_its_use():
    plain = Layout("", "/")
    maps = map_folders(listing(plain, "INBOX", "Sent Messages"), listing(plain, "INBOX"), True)
    m = next(m for m in maps if m.source.display == "Sent Messages")
    assert m.destination_name == "Sent Messages" and m.create_special_use == "\\Sent"
    assert not m.exists


def test_two_sources_for_one_name_are_kept_apart():
    plain = Layout("", "/")
    src = listing(plain, "INBOX", ("Sent Items", ("\\Sent",)), "Sent")
    dst = listing(plain, "INBOX", ("Sent", ("\\Sent",)))
    t = targets(map_folders(src, dst, False))
    assert t["Sent Items"] == "Sent"
    assert t["Sent"] != "Sent"  # not merged into the other one


def test_separator_inside_a_name_is_replaced():
    src = listing(Layout("", "/"), "INBOX", "v1.2 notes")
    maps = map_folders(src, listing(Layout("INBOX.", "."), "INBOX"), False)
    m = next(m for m in maps if m.source.display == "v1.2 notes")
    assert m.destination_name == "INBOX.v1_2 notes" and "separator" in m.note


def test_other_namespaces_are_recognised():
    layout = Layout("", "/", ("Public/", "Shared/"))
    assert layout.is_other_namespace("Public/News")
    assert layout.is_other_namespace("Public")
    assert not layout.is_other_namespace("Publicity")


def test_a_real_folder_keeps_its_name_beside_one_renamed_for_the_separator():
    courier = Layout("INBOX.", ".")
    for order in (("Lists/dev.team", "Lists/dev.team/2024", "Lists/dev_team"),
                  ("Lists/dev_team", "Lists/dev.team/2024", "Lists/dev.team")):
        src = listing(Layout("", "/"), "INBOX", "Lists", *order)
        maps = {m.source.display: m for m in map_folders(src, listing(courier, "INBOX"), False)}
        assert maps["Lists/dev_team"].destination_name == "INBOX.Lists.dev_team", order
        assert maps["Lists/dev_team"].note == ""
        renamed = maps["Lists/dev.team"]
        assert renamed.destination_name == "INBOX.Lists.dev_team (2)", order
        assert "renamed to 'Lists/dev_team (2)'" in renamed.note
        # its subfolder goes with it, not into the real dev_team
        assert maps["Lists/dev.team/2024"].destination_name == "INBOX.Lists.dev_team (2).2024"


def test_the_special_folder_gets_the_destinations_holder_whatever_the_order():
    plain = Layout("", "/")
    src = listing(plain, "INBOX", "Sent", ("Sent Items", ("\\Sent",)))  # sorted, as listed
    dst = listing(plain, "INBOX", ("Sent", ("\\Sent",)))
    t = targets(map_folders(src, dst, False))
    assert t["Sent Items"] == "Sent"
    assert t["Sent"] == "Sent (2)"


def test_a_noselect_name_on_the_destination_is_no_folder_yet():
    plain = Layout("", "/")
    src = listing(plain, "INBOX", "Archive", "Archive/2022")
    dst = listing(plain, "INBOX", ("Archive", ("\\Noselect", "\\HasChildren")), "Archive/2022")
    exists = {m.source.display: m.exists for m in map_folders(src, dst, False)}
    assert exists == {"INBOX": True, "Archive": False, "Archive/2022": True}


def test_a_rerun_finds_the_suffixed_name_again():
    plain = Layout("", "/")
    src = listing(plain, "INBOX", ("Sent Items", ("\\Sent",)), "Sent")
    after_first_run = listing(plain, "INBOX", ("Sent", ("\\Sent",)), "Sent (2)")
    maps = {m.source.display: m for m in map_folders(src, after_first_run, False)}
    assert maps["Sent"].destination_name == "Sent (2)" and maps["Sent"].exists
