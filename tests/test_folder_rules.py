"""Folder choices without a server: patterns, mappings, bad input, and the map they make."""

from __future__ import annotations

import pytest

from kimt.core.errors import SettingsError
from kimt.core.folder_rules import FolderRules, Mapping, Skip, folder_rules, matches
from kimt.core.folders import Folder, Layout, Listing, map_folders, select


def listing(*specs: tuple[str, tuple[str, ...]] | str) -> Listing:
    layout = Layout("", "/")
    folders = []
    for spec in specs:
        name, flags = (spec, ()) if isinstance(spec, str) else spec
        folders.append(Folder(name, layout.parts(name), frozenset(flags), True))
    return Listing(layout, folders)


def targets(maps) -> dict[str, str]:
    return {m.source.display: m.destination_name for m in maps}


def test_a_pattern_matches_the_folder_and_its_subfolders_in_any_case():
    assert matches("Archive", ("Archive",))
    assert matches("archive", ("Archive", "2019", "Q1"))
    assert not matches("Archive", ("Archives",))
    assert matches("Archive*", ("Archives",))
    assert matches("Archive/20?9", ("Archive", "2019"))
    assert not matches("Archive/20?9", ("Archive", "2020"))
    assert matches("[Gmail]/All Mail", ("[Gmail]", "All Mail"))  # brackets are literal
    assert not matches("[Gmail]/All Mail", ("G", "All Mail"))
    assert matches("*/Spam", ("Lists", "Spam"))


def test_leaving_out_wins_over_including_and_each_says_why():
    rules = folder_rules(exclude=["Projects/Old"], include=["Projects", "INBOX"])
    src = listing("INBOX", "Projects", "Projects/New", "Projects/Old", "Projects/Old/x",
                  "Notes", ("Parent", ("\\Noselect",)))
    kept, left_out = select(src, rules)
    assert [f.display for f in kept.folders] == ["INBOX", "Projects", "Projects/New"]
    assert left_out == [
        "'Projects/Old': left out by the folder choices ('Projects/Old')",
        "'Projects/Old/x': left out by the folder choices ('Projects/Old')",
        "'Notes': not among the folders to copy ('Projects', 'INBOX')",
    ]  # a \Noselect parent is no folder to report


def test_a_mapping_overrides_the_special_use_mapping_and_takes_its_subfolders():
    src = listing("INBOX", ("Sent Items", ("\\Sent",)), "Sent Items/2019", "Old Stuff",
                  "Old Stuff/2019", "Deleted Items")
    dst = listing("INBOX", ("Sent", ("\\Sent",)), ("Trash", ("\\Trash",)))
    rules = folder_rules(maps=["Sent Items=Sent Items", "old stuff=Archive/Old"])
    maps = map_folders(src, dst, False, rules)
    assert targets(maps) == {"INBOX": "INBOX", "Sent Items": "Sent Items",
                             "Sent Items/2019": "Sent Items/2019", "Old Stuff": "Archive/Old",
                             "Old Stuff/2019": "Archive/Old/2019", "Deleted Items": "Trash"}
    notes = {m.source.display: m.note for m in maps}
    assert notes["Old Stuff"] == "copied into 'Archive/Old' as the folder choices say"
    assert notes["Old Stuff/2019"] == ""


def test_a_mapping_to_a_special_use_finds_the_destinations_folder_or_names_one():
    src = listing("INBOX", "Gesendet von mir", "Papierkorb alt")
    dst = listing("INBOX", ("Odeslaná pošta", ("\\Sent",)))
    rules = folder_rules(maps=["Gesendet von mir=\\sent", "Papierkorb alt=\\Trash"])
    maps = map_folders(src, dst, True, rules)
    assert targets(maps)["Gesendet von mir"] == "Odeslaná pošta"
    trash = next(m for m in maps if m.source.display == "Papierkorb alt")
    assert trash.destination_name == "Trash" and trash.create_special_use == "\\Trash"


def test_a_mapped_name_wins_a_contested_name_and_the_other_is_kept_apart():
    src = listing("INBOX", ("Sent", ("\\Sent",)), "Old Sent")
    dst = listing("INBOX", ("Sent", ("\\Sent",)))
    t = targets(map_folders(src, dst, False, folder_rules(maps=["Old Sent=Sent"])))
    assert t["Old Sent"] == "Sent"
    assert t["Sent"] == "Sent (2)"  # never two source folders in one destination folder


def test_a_preset_mapping_by_flag_and_the_admins_first():
    admin = FolderRules(maps=(Mapping(("Box",), ("Mine",)),))
    preset = FolderRules(maps=(Mapping(("Box",), ("Theirs",), origin="Gmail"),
                               Mapping(("x",), use="\\Sent", flag="\\Sent", origin="Gmail")),
                         exclude=(Skip(flag="\\All", reason="every message again"),))
    rules = admin.plus(preset)
    assert rules.mapping_for(("Box",))[1].destination == ("Mine",)
    assert rules.mapping_for(("[Gmail]", "Sent Mail"), ("\\Sent",))[1].use == "\\Sent"
    assert rules.left_out(("[Gmail]", "Alle Nachrichten"), ("\\All",)) == "every message again"


@pytest.mark.parametrize("exclude,include,maps,words", [
    ([""], [], [], "--exclude-folder is empty"),
    (["/"], [], [], "--exclude-folder is empty"),
    ([], ["a//b"], [], "--include-folder 'a//b' has an empty part"),
    ([], [], ["Sent"], "--map-folder 'Sent' must be SOURCE=DESTINATION"),
    ([], [], ["a=b=c"], "with one '='"),
    ([], [], ["=Sent"], "--map-folder '=Sent': the source folder is empty"),
    ([], [], ["Sent= "], "the destination folder is empty"),
    ([], [], ["x=\\Outbox"], "'\\Outbox' is no special folder"),
    ([], [], ["a=X", "b=x"], "--map-folder: two folders are mapped to 'x'"),
])
def test_bad_choices_are_refused_naming_the_option(exclude, include, maps, words):
    with pytest.raises(SettingsError) as e:
        folder_rules(exclude, include, maps,
                     names=("--exclude-folder", "--include-folder", "--map-folder"))
    assert words in str(e.value)


def test_unused_choices_are_named():
    rules = folder_rules(exclude=["Trsh"], include=["INBOX"], maps=["Nothing=Else"])
    assert rules.unused([("INBOX",), ("Trash",)]) == [
        "the folder choice 'Trsh' matches no folder here",
        "the folder mapping 'Nothing' -> 'Else': no folder 'Nothing' here"]
    assert rules.describe() == ["Folders left out: 'Trsh'", "Only these folders: 'INBOX'",
                                "Folders mapped: 'Nothing' -> 'Else'"]
