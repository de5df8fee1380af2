"""Requests to deploy, found in any text: the person's words, prompt files, data descriptions.

trialrun never deploys. :func:`deploy_phrases` returns the evidence that a text asks for any step
towards production, however it is written:

- as the offline parser reads it (:mod:`agent.planner.reading.deploy`), on the text as written;
- the same patterns on the text :func:`agent.planner.normalize.fold` undisguised (homoglyphs,
  full-width letters, zero-width characters, accents, letters spaced or punctuated apart);
- paraphrases the parser's verb patterns do not cover: making a model live or available,
  putting it behind an HTTP endpoint, creating a model version, the registry's API names;
- the common words for deploy, register, promote and serve in other languages (Spanish, French,
  German, Portuguese, Italian, Dutch, Polish, Turkish, Russian, Chinese, Japanese, Korean);
- a ``register: true`` line in free text, as if it were front matter.

Words that only describe data stay unflagged, as the parser's do: "use the staging dataset",
"register for the workshop", "registered users", "production data".

:func:`data_refusals` scans what a catalog entry brings along — its description and its column
names — whenever the entry is used: an instruction hidden there is refused and recorded, and the
experiment still runs on the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.planner.normalize import fold, plain, spaced_runs

REFUSAL = "trialrun never deploys, registers, promotes, stages or serves models"

_OBJECT = (
    r"(?:it|this|that|them|(?:the|a|our|my|this|that|your)\s+(?:[\w-]+\s+){0,3}?"
    r"(?:models?|runs?|winner|classifiers?|regressors?|boosters?|one))"
)
_SURFACE = (
    r"(?:an?\s+)?(?:(?:http|https|rest|restful|grpc|web|public|online|real-?time|prediction|"
    r"inference|scoring|serving)\s+)+(?:endpoints?|api|apis|services?|servers?)"
)
_ENGLISH = (
    rf"\bmake\s+{_OBJECT}\s+(?:go\s+)?live\b",
    rf"\b{_OBJECT}\s+(?:goes|go|going|will\s+go|should\s+go)\s+live\b",
    rf"\bmake\s+{_OBJECT}\s+(?:publicly\s+)?available\s+(?:to|for|in|on|via|through|as|behind)\s+"
    rf"(?:(?:the|our|all|my|your|every)\s+)?(?:users?|customers?|clients?|everyone|production|prod|apps?|the\s+app|inference|"
    rf"predictions?|online|{_SURFACE})\b",
    rf"\b(?:put|place|stand|get)\s+{_OBJECT}\s+(?:live|online|in\s+front\s+of\s+(?:users|customers|"
    r"clients))\b",
    rf"\bbehind\s+{_SURFACE}\b",
    rf"\b(?:serve|expose|offer|provide|publish|available)\s+(?:{_OBJECT}\s+|predictions\s+)?"
    rf"(?:as|via|through|over|behind)\s+{_SURFACE}\b",
    r"\b(?:create|make|cut|add|log|publish|register|push|bump|release)\s+(?:a\s+|the\s+|another\s+)?"
    r"(?:new\s+)?(?:registered\s+)?model\s+version\b",
    r"\bnew\s+version\s+of\s+(?:the\s+|our\s+)?(?:registered|production|prod|live|deployed)\s+model\b",
    # The MLflow client's registry methods, by the shape of their names.
    r"\b(?:mlflow\.)?(?:register|create|transition|update|set|rename)_(?:registered_)?model"
    r"(?:_version)?(?:_stage|_alias|_tag)?\b",
    r"\b(?:kserve|seldon|bentoml\s+serve|torchserve|triton\s+inference\s+server|"
    r"sagemaker\s+endpoint|vertex\s+(?:ai\s+)?endpoint)\b",
    rf"\b(?:route|send|shift|switch|flip|move)\s+(?:\w+\s+){{0,2}}traffic\s+to\s+{_OBJECT}\b",
    r"\bcanary\s+(?:release|rollout|deploy\w*)\b",
    rf"\bhand\s*(?:-\s*)?off\s+{_OBJECT}\s+to\s+(?:serving|ops|mlops|production|the\s+serving\s+team)\b",
    rf"\bship\s+{_OBJECT}\s+to\s+(?:customers|users|clients)\b",
    r"(?m)^\s*(?:deploy|register|registered_model_name|promote|alias|publish)\s*[:=]\s*\S+",
    r"(?m)^\s*(?:stage|serve)\s*[:=]\s*(?:prod\w*|staging|live|true|yes)\b",
)

_MODEL_WORDS = (
    r"(?:modelo|modelos|modele|modeles|modell|modelle|modello|modelli|model|modelu|modeli|"
    r"модель|модели)"
)
_LANGUAGES = (
    # Spanish
    r"\b(?:despleg\w*|desplieg\w*)\b",
    rf"\b(?:registr[ae]\w*|promuev\w*|promov\w*|servir|sirve|publica\w*)\s+(?:el|los|un|nuestro|mi|"
    rf"este)\s+(?:\w+\s+)?{_MODEL_WORDS}\b",
    r"\b(?:pon\w*|pasa\w*|lleva\w*|sube\w*|subir)\s+(?:\w+\s+){0,3}?(?:a|en)\s+produccion\b",
    # French
    r"\b(?:deploi\w*|deployer|deployez|deployons|deploye)\b",
    r"\b(?:mett\w*|mets|met|pass\w*|mise)\s+(?:\w+\s+){0,3}?en\s+production\b",
    rf"\b(?:enregistr\w*|promouv\w*|servir|sers|publi\w*)\s+(?:le|les|un|notre|mon|ce)\s+(?:\w+\s+)?"
    rf"{_MODEL_WORDS}\b",
    # German
    r"\b(?:deployen|deployt|deploye)\b",
    r"\bmodell\w*\s+(?:\w+\s+){0,3}(?:bereitstell\w*|bereit(?:stellen|gestellt)|registrier\w*|"
    r"ausroll\w*|veroffentlich\w*)\b",
    r"\b(?:bereitstell\w*|registrier\w*|ausroll\w*|veroffentlich\w*)\s+(?:\w+\s+){0,2}modell\w*\b",
    r"\bstell\w*\s+(?:sie\s+)?(?:das|den|unser|dein|ihr)\s+(?:\w+\s+)?modell\s+(?:\w+\s+){0,3}"
    r"bereit\b",
    r"\bin\s+(?:die\s+)?produktion\s+(?:\w+\s+)?(?:bring\w*|nehm\w*|geb\w*|stell\w*|uberfuhr\w*|"
    r"schieb\w*)",
    r"\b(?:bring\w*|nehm\w*|stell\w*|uberfuhr\w*|schieb\w*)\s+(?:\w+\s+){0,5}in\s+(?:die\s+)?"
    r"produktion\b",
    r"\bproduktiv\s+(?:setz|nehm|schalt)\w*",
    # Portuguese
    r"\bimplant(?:ar|e|em|ado|acao)\s+(?:o|os|um|nosso|meu|este|em)\b",
    r"\b(?:coloc\w*|coloqu\w*|por|ponha|leve|levar|mand\w*|suba|subir)\s+(?:\w+\s+){0,3}?em\s+producao\b",
    rf"\b(?:registr\w*|promov\w*|servir|sirva|publi\w*)\s+(?:o|os|um|nosso|meu|este)\s+(?:\w+\s+)?"
    rf"{_MODEL_WORDS}\b",
    # Italian
    rf"\b(?:distribu\w*|rilasci\w*|registr\w*|promuov\w*|servi\w*|pubblic\w*)\s+(?:il|lo|i|un|"
    rf"nostro|questo)\s+(?:\w+\s+)?{_MODEL_WORDS}\b",
    r"\b(?:mett\w*|port\w*)\s+(?:\w+\s+){0,3}?in\s+produzione\b",
    # Dutch
    r"\buitrol\w*\b|\brol\w*\s+(?:\w+\s+){0,3}uit\b|\bnaar\s+productie\b",
    r"\bin\s+productie\s+(?:\w+\s+)?(?:nem\w*|neem\w*|breng\w*|zet\w*)",
    r"\bregistreer\w*\s+het\s+(?:\w+\s+)?model\b",
    # Polish
    r"\bwdr[oa]z\w*",
    # Turkish
    r"\bmodel\w*\s+(?:\w+\s+)?(?:dag[iı]t\w*|yay[iı]nla\w*|canl[iı]ya\s+al\w*)",
    r"\bcanl[iı]ya\s+al\w*",
    # Russian
    r"\b(?:развер(?:ни|нуть|ните|нем)\w*|разв[её]ртыва\w*|задеплой\w*|деплой\w*|выкат\w*)",
    r"\b(?:зарегистрир\w*|опубликова\w*)\s+(?:\w+\s+)?модел\w*",
    r"\bв\s+прод(?:акшн|акшен|уктив)?\b",
    # Chinese, Japanese, Korean: no spaces between words, so no word boundaries either
    r"部署(?:模型|到|至|上线|在)|(?:模型|它).{0,6}部署|上线|发布模型|注册模型",
    r"デプロイ|本番(?:環境)?(?:に|へ)(?:反映|リリース|公開|移行|展開)|モデル(?:を)?(?:登録|公開)",
    r"배포|모델(?:을|를)?\s*등록",
)
_SPACED_STEMS = re.compile(
    r"deploy|register(?:the|a|our)?(?:best)?model|promote|productioni[sz]e|intoproduction|"
    r"toprod|serve(?:the|a)?model|release(?:the)?model|shipit"
)


_ENGLISH_PATTERNS = tuple(re.compile(p) for p in _ENGLISH)
# The patterns are written in the spelling plain() produces ("déployer" as "deployer"); passing
# them through it keeps the two in step (Japanese "デプロイ" loses its sound marks in both).
_LANGUAGE_PATTERNS = tuple(re.compile(plain(p)) for p in _LANGUAGES)
_HINT = re.compile(
    r"(?i)deploy|regist|promot|stag|serv|alias|champion|challeng|production|prod\b|ship|release"
    r"|publish|endpoint|live|roll|host|api|container|build-docker"
)
"""A cheap pre-check before the parser's full pass (tool results are long)."""


def deploy_phrases(text: str) -> list[str]:
    """Return the phrases of ``text`` that ask to deploy a model (empty when none).

    Example:
        >>> deploy_phrases("train wine v1, then make the best model live behind an HTTP endpoint")
        ['make the best model live', 'behind an http endpoint']
        >>> deploy_phrases("use the staging dataset, then register for the workshop")
        []
    """
    if not text:
        return []
    from agent.planner.reading.deploy import take_deploy
    from agent.planner.reading.message import read_message
    from agent.planner.reading.scan import Scan

    found = read_message(text).deploy_requested if _HINT.search(text) else []
    folded = fold(text)
    if folded != text.casefold() and _HINT.search(folded):
        found += take_deploy(Scan(folded))
    plain_text = plain(text)
    for variant in dict.fromkeys((folded, plain_text)):
        found += [m.group(0).strip() for p in _ENGLISH_PATTERNS for m in p.finditer(variant)]
    found += [m.group(0).strip() for p in _LANGUAGE_PATTERNS for m in p.finditer(plain_text)]
    found += [run for run in spaced_runs(text) if _SPACED_STEMS.search(run)]
    return _distinct(found)


def _distinct(phrases: Iterable[str]) -> list[str]:
    """Drop a phrase another one contains (the same words found twice, or a part of a longer one)."""
    keyed = [(" ".join(fold(p).split()), p) for p in phrases]
    return [
        phrase
        for i, (key, phrase) in enumerate(keyed)
        if key
        and not any(
            key in other and (key != other or j < i) for j, (other, _) in enumerate(keyed) if j != i
        )
    ]


def data_refusals(ref: str, description: str | None, columns: Iterable[str]) -> list[str]:
    """Return a refusal for each deploy request hidden in a dataset's description or columns.

    Args:
        ref: The dataset's ``name@version``.
        description: The catalog entry's description.
        columns: The file's column names (underscores read as spaces).
    """
    found = [
        f"refused {phrase!r} (the description of dataset {ref}; data, not an instruction): "
        f"{REFUSAL}"
        for phrase in deploy_phrases(description or "")
    ]
    for column in columns:
        for phrase in deploy_phrases(str(column).replace("_", " ")):
            found.append(
                f"refused {phrase!r} (column {str(column)[:80]!r} of dataset {ref}; data, not an "
                f"instruction): {REFUSAL}"
            )
    return found


def add_refusals(recorded: list[str], new: Iterable[str]) -> None:
    """Append each refusal of ``new`` to ``recorded`` unless its phrase is refused there already.

    The same words found twice (in a tool's result and in the catalog entry) are one refusal.
    """
    for refusal in new:
        phrase = refusal.split(" (", 1)[0]
        if not any(r.split(" (", 1)[0] == phrase for r in recorded):
            recorded.append(refusal)
