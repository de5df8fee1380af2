"""Text as the deployment check reads it: one spelling for the many ways to disguise a word.

:func:`fold` undoes what makes "deploy" stop looking like "deploy" to a pattern while a person
still reads it: compatibility forms (full-width letters, ligatures, mathematical letters: Unicode
NFKC), invisible characters (zero-width spaces, soft hyphens), letters of other scripts that look
like Latin ones (Cyrillic "е" in "dеploy": Unicode's confusables, from ``confusable_homoglyphs``),
accents ("déployer" reads "deployer"), case, and letters spaced or punctuated apart ("d e p l o y",
"d.e.p.l.o.y", "de-ploy").

A word of another script is folded only when every letter of it has a Latin look-alike, so Russian
or Greek words stay what they are and their own patterns can read them.

Example:
    >>> fold("Ｄеploy the m o d e l")
    'deploy the model'
"""

from __future__ import annotations

import functools
import re
import unicodedata

STEMS = re.compile(
    r"deploy|regist|promot|production|serv(?:e|ing)|stag(?:e|ing)|releas|publish|ship|alias"
)
"""Word parts whose disguise matters: only words holding one are joined across punctuation."""

_LETTER = r"[^\W\d_]"
# Single letters, each followed by one separator (a space, or a punctuation mark and maybe a
# space): "d e p l o y", "d.e.p.l.o.y", "d. e. p". Two spaces end the run, so spaced-out words
# stay apart.
_SPACED = re.compile(rf"(?<!\w){_LETTER}(?:(?:\s|[^\w\s]\s?|_){_LETTER}(?!\w)){{2,}}")
# Anchored at the start of a word and possessive: a long run of letters must not be tried from
# every position (a pasted 100,000-character word took minutes).
_INNER = re.compile(rf"(?<!{_LETTER}){_LETTER}++(?:[.\-_*·'’`|~+]++{_LETTER}++)+")
_SEPARATORS = re.compile(r"[\W_]+")


@functools.cache
def _homoglyphs() -> dict[str, str]:
    """Return each non-ASCII character that looks like a Latin letter, mapped to that letter."""
    from confusable_homoglyphs.confusables import confusables_data

    table = {}
    for char, glyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in glyphs:
            latin = glyph["c"]
            if len(latin) == 1 and latin.isascii() and latin.isalpha():
                table[char] = latin.lower()
                break
    return table


def _fold_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.isascii():
        return word
    table = _homoglyphs()
    if all(ch.isascii() or ch in table for ch in word):
        return "".join(table.get(ch, ch) for ch in word)
    return word


def _strip_accents(text: str) -> str:
    # Only a Latin letter's accents: Japanese sound marks or the Russian "й" are letters of their
    # own, which the other languages' patterns spell as written.
    kept: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.category(ch) == "Mn":
            if unicodedata.name(base, "").startswith("LATIN"):
                continue
        else:
            base = ch
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def _visible(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def plain(text: str) -> str:
    """Return ``text`` with compatibility forms, invisible characters, case and Latin accents undone.

    Unlike :func:`fold`, letters of other scripts stay as they are, so words of other languages
    can be read as written.

    Example:
        >>> plain("Déployez le MODÈLE")
        'deployez le modele'
    """
    return _strip_accents(_visible(text).casefold())


def _join_inner(match: re.Match[str]) -> str:
    word = match.group(0)
    joined = _SEPARATORS.sub("", word)
    return joined if STEMS.search(joined) else word


def fold(text: str) -> str:
    """Return ``text`` in the one spelling the deployment check reads (see the module docstring)."""
    text = re.sub(r"\w+", _fold_word, _visible(text))
    text = _strip_accents(text.casefold())
    text = _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group(0)), text)
    return _INNER.sub(_join_inner, text)


def spaced_runs(text: str) -> list[str]:
    """Return the letters of each run of spaced-out single letters in ``text``, joined.

    "d-e-p-l-o-y-t-h-e-m-o-d-e-l" has no word boundary left to read; the check looks for a
    deployment word anywhere inside such a run.
    """
    text = plain(text)
    return [_SEPARATORS.sub("", m.group(0)) for m in _SPACED.finditer(text)]
