"""The catalogue covers every text a page shows, every code has a word, and times are the plant's."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from api import plant
from api.i18n import LOCALE_DIR, from_accept_language, pick_locale, use_locale
from api.words import ENUMS, VOCABULARIES, word
from edge.training.classes import CLASSES

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "N_": None, "NC_": ((1, "c"), 2), "pgettext": ((1, "c"), 2)}
PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def _extracted() -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    method_map = [("api/**.py", "python"), ("services/**.py", "python"), ("api/templates/**.html", "jinja2")]
    options = {"api/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map=options, keywords=KEYWORDS
    ):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def _catalogue() -> dict[tuple[str | None, str], str]:
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        cat = read_po(f)
    return {(m.context, m.id): m.string for m in cat if m.id}


def test_every_text_on_a_page_has_a_chinese_translation() -> None:
    found, cat = _extracted(), _catalogue()
    assert len(found) > 400  # the extraction itself works (a broken keyword list would find nothing)
    missing = sorted(f"{c or ''}|{m}" for c, m in found if not cat.get((c, m)))
    assert not missing, f"untranslated (run the commands in docs/i18n.md): {missing[:20]}"


def test_translations_keep_their_placeholders() -> None:
    for (context, msgid), msgstr in _catalogue().items():
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(msgstr)), (context, msgid, msgstr)


def test_every_code_has_a_word_in_both_languages() -> None:
    assert set(VOCABULARIES["defect"]) == set(CLASSES)
    for name, enum in ENUMS.items():
        assert {m.value for m in enum} <= set(VOCABULARIES[name]), name
    cat = _catalogue()
    for name, words in VOCABULARIES.items():
        for code, english in words.items():
            assert cat.get((name, english)), (name, code)
    with use_locale("zh_CN"):
        assert word("dead_cell", "defect") == "短路 / 死片" and word("use_as_is", "hold_outcome") == "让步接收（偏差）"
        assert word("in_transit", "location") == "运输中"
    with use_locale("en"):
        assert word("dead_cell", "defect") == "short-circuit / dead cell"
        assert word("something_new", "defect") == "something new"  # an unknown code still reads as words


@pytest.mark.parametrize(
    ("header", "want"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("en-US,en;q=0.9", "en"),
        ("de-DE,en;q=0.5,zh;q=0.7", "zh_CN"),  # q-values, not order
        ("zh-TW", "zh_CN"),
        ("fr-FR", None),
        ("zh;q=0, en", "en"),  # q=0 means "not this"
        ("", None),
        ("garbage;;q=x,,", None),
    ],
)
def test_the_browser_language_is_read_with_its_weights(header: str, want: str | None) -> None:
    assert from_accept_language(header) == want


def test_the_persons_choice_beats_the_browser_and_the_default() -> None:
    assert pick_locale("en", "zh-CN", "zh_CN") == "en"
    assert pick_locale(None, "zh-CN", "en") == "zh_CN"
    assert pick_locale(None, "fr", "zh_CN") == "zh_CN"
    assert pick_locale("xx", None, "bogus") == "en"


def test_plant_time_is_shown_and_read_in_the_plant_zone() -> None:
    stored = datetime(2026, 11, 30, 20, 15, tzinfo=UTC)
    with plant.use_zone("Asia/Shanghai"):
        assert plant.plant_time(stored) == "2026-12-01 04:15"  # the next day in Shanghai
        assert plant.to_input(stored) == "2026-12-01T04:15"
        assert plant.from_input("2026-12-01T04:15") == stored  # what was shown comes back as the same instant
        assert plant.day_start_utc(date(2026, 12, 1)) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
        assert plant.plant_zone_label(stored) == "Asia/Shanghai, UTC+08:00"
        assert plant.plant_time(None) == ""
    with plant.use_zone("UTC"):
        assert plant.plant_time(stored) == "2026-11-30 20:15"
    with pytest.raises(ValueError):
        plant.from_input("yesterday")


def test_no_translated_text_hides_inside_an_f_string() -> None:
    # Babel's extractor reads an f-string as one token: a _() inside it never reaches the catalogue, and the
    # Chinese page shows English (it happened to the dashboard's "no data in this window").
    import re
    import tokenize

    call = re.compile(r"(?<![\w.])(_|gettext|N_|NC_|pgettext)\(")
    found = []
    for path in [*ROOT.glob("api/**/*.py"), *ROOT.glob("services/**/*.py")]:
        with path.open("rb") as fh:
            for tok in tokenize.tokenize(fh.readline):
                if tok.type == tokenize.STRING and re.match(r"(?i)^[rb]*f", tok.string) and call.search(tok.string):
                    found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}")
    assert not found, found


def _refusals_not_in_the_catalogue() -> list[str]:
    """Every `raise <DomainError>(message, ...)` in api/ and services/ whose message is not a marked literal."""
    import ast

    trees = {p: ast.parse(p.read_text()) for p in [*ROOT.glob("api/**/*.py"), *ROOT.glob("services/**/*.py")]}
    errors = {"DomainError"}
    grew = True
    while grew:  # the family: DomainError and every class derived from it, however deep
        before = len(errors)
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id in errors for b in node.bases):
                    errors.add(node.name)
        grew = len(errors) > before

    def marked(node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("N_", "_")
            and isinstance(node.args[0], ast.Constant)
        )

    found = []
    for path, tree in trees.items():
        # module-level names bound to a marked literal, or to a dict whose values all are (a message per state)
        names = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
            and (marked(node.value) or (isinstance(node.value, ast.Dict) and all(marked(v) for v in node.value.values)))
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            if not (isinstance(func, ast.Name) and func.id in errors) or not node.exc.args:
                continue
            msg = node.exc.args[0]
            if isinstance(msg, ast.Subscript):
                msg = msg.value
            if not (marked(msg) or (isinstance(msg, ast.Name) and msg.id in names)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_refusal_is_a_catalogue_message_with_its_values_apart() -> None:
    # A refusal written as an f-string ("device 'x' not found") cannot be translated: the page showed English
    # inside a Chinese sentence. The message is a marked literal with %(name)s placeholders; values go apart.
    found = _refusals_not_in_the_catalogue()
    assert not found, f"refusals that are not N_() literals: {found}"


def test_a_refusal_reads_in_the_readers_language_with_its_codes_as_words() -> None:
    from api.words import error_text
    from services.core.errors import Conflict
    from services.core.i18n import N_
    from services.rework.schemas import LoopState

    exc = Conflict(
        N_("rework loop %(loop)s is %(state)s; dispositions are only taken while it is open"),
        loop=7,
        state=LoopState.REPAIRED,
    )
    assert exc.detail == "rework loop 7 is repaired; dispositions are only taken while it is open"  # the JSON's
    with use_locale("zh_CN"):
        text = error_text(exc)
        assert "7" in text and "repaired" not in text and word(LoopState.REPAIRED, "loop_state") in text
    with use_locale("en"):
        assert (
            error_text(exc)
            == f"rework loop 7 is {word(LoopState.REPAIRED, 'loop_state')}; dispositions are only taken while it is open"
        )


def test_every_audited_action_and_entity_has_a_word() -> None:
    # The audit trail shows actions and entities as words; a new action without one showed its code.
    import ast

    from api.words import AUDIT_ACTIONS, AUDIT_ENTITIES

    actions, entities = set(), set()
    for path in ROOT.glob("services/**/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and {"action", "entity"} <= {k.arg for k in node.keywords}:
                for k in node.keywords:
                    if k.arg in ("action", "entity"):
                        in_f = {id(c) for f in ast.walk(k.value) if isinstance(f, ast.JoinedStr) for c in ast.walk(f)}
                        found = {
                            c.value
                            for c in ast.walk(k.value)
                            if isinstance(c, ast.Constant) and isinstance(c.value, str) and id(c) not in in_f  # not f"hold.{x}"
                        }
                        (actions if k.arg == "action" else entities).update(found)
    assert len(actions) > 20 and len(entities) > 8  # the walk finds the audit calls
    assert not actions - set(AUDIT_ACTIONS), sorted(actions - set(AUDIT_ACTIONS))
    assert not entities - set(AUDIT_ENTITIES), sorted(entities - set(AUDIT_ENTITIES))
