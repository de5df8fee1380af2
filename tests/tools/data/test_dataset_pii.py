"""Personal data nobody declared is found at ``datasets add``, and refused unless declared or allowed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agent.adapters.cli import main
from agent.adapters.exit_codes import ExitCode
from tools.data.catalog import Catalog
from tools.data.curate import add_dataset
from tools.data.pii import PersonalData, kinds_of, luhn_valid, scan
from tools.errors import InputError

REPO = Path(__file__).resolve().parents[3]

PLANTED = {
    "email": ["ada.lovelace@example.com", "grace+ml@navy.example.org", "x_y@sub.domain.io"],
    "phone": ["+1 415 555 0134", "(020) 7946 0958", "0412-345-678", "+441632960961"],
    "card": ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009", "6011000990139424"],
    "iban": [
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "FR1420041010050500013M02606",
    ],
    "national_id": ["123-45-6789", "078-05-1120", "AB 12 34 56 C", "JG103759A"],
    "ip_address": ["192.168.10.24", "8.8.4.4", "2001:db8::ff00:42:8329", "fe80::1"],
    "secret": [
        "sk-proj-abcdefghijklmnop1234",
        "AKIAIOSFODNN7EXAMPLE",
        "password=correct-horse-battery",
        "xoxb-123456789012-abcdefghij",
        "-----BEGIN RSA PRIVATE KEY-----",
    ],
}
LOOK_ALIKES = [
    "2024-06-30",  # a date
    "30.06.2024",
    "3.14159",  # a decimal
    "1.2.3",  # a version
    "10.5",
    "12345",
    "hello world",
    "user at example dot com",
    "the password is long",
]
NEAR_MISSES = [  # the right shape, but the checksum or a rule of the format says no
    ("4111 1111 1111 1112", "card"),
    ("1234 5678 9012 3456", "card"),  # no network issues cards starting 1
    ("GB82 WEST 1234 5698 7654 33", "iban"),
    ("000-12-3456", "national_id"),  # no SSN has area 000, 666 or 9xx
    ("666-12-3456", "national_id"),
    ("QQ123456C", "national_id"),  # no NI number starts with Q
    ("999.999.999.999", "ip_address"),
]


@pytest.mark.parametrize(
    ("kind", "value"), [(k, v) for k, values in PLANTED.items() for v in values]
)
def test_each_kind_of_personal_value_is_recognised(kind: str, value: str) -> None:
    assert kind in kinds_of(value)


@pytest.mark.parametrize("value", LOOK_ALIKES)
def test_look_alikes_are_not_personal(value: str) -> None:
    assert kinds_of(value) == set()


@pytest.mark.parametrize(("value", "kind"), NEAR_MISSES)
def test_a_failed_checksum_or_format_rule_is_not_that_kind(value: str, kind: str) -> None:
    assert kind not in kinds_of(value)


def test_the_luhn_checksum() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


def test_whole_number_card_numbers_are_found_but_timestamps_and_counts_are_not() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "card_number": [4111111111111111, 5500000000000004, 340000000000009, 6011000990139424],
            "epoch_ms": (1_700_000_000_000 + rng.integers(0, 10**9, 4)).tolist(),
            "count": [3, 14, 15, 92],
        }
    )
    assert [(f.column, f.kind) for f in scan(frame)] == [("card_number", "card")]


def test_one_address_in_free_text_is_enough_but_one_number_like_a_phone_is_not() -> None:
    notes = [f"visit {i}" for i in range(20)] + ["write to ada.lovelace@example.com"]
    codes = [f"{i:03d} {i:03d} {i:04d}" for i in range(2)] + [f"R{i}" for i in range(19)]
    findings = scan(pd.DataFrame({"notes": notes, "codes": codes}))
    assert [(f.column, f.kind, f.matched) for f in findings] == [("notes", "email", 1)]


def test_the_shared_public_datasets_raise_no_false_alarm() -> None:
    checked = 0
    for directory in (
        REPO.parent / "shared" / "datasets",
        REPO.parent / "shared" / "datasets-suite",
    ):
        if not (directory / "datasets.json").exists():
            continue
        for entry in json.loads((directory / "datasets.json").read_text()).values():
            assert scan(pd.read_parquet(directory / entry["file"])) == [], entry["file"]
            checked += 1
    if not checked:
        pytest.skip("the shared datasets are not beside the repository")


@pytest.fixture
def contacts(wine: pd.DataFrame, tmp_path: Path) -> Path:
    """Wine with two columns a curator might forget: e-mail addresses and IP addresses."""
    rows = len(wine)
    wine["contact"] = [f"taster{i}@example.org" for i in range(rows)]
    wine["last_ip"] = [f"10.0.{i % 5}.{i % 3}" for i in range(rows)]
    path = tmp_path / "contacts.parquet"
    wine.to_parquet(path, index=False)
    return path


def _add(path: Path, catalog: Catalog, **kwargs: object) -> object:
    return add_dataset(
        path,
        name="wine",
        version="v1",
        target="cultivar",
        catalog=catalog,
        curated_by="t",
        **kwargs,
    )


def test_undeclared_personal_columns_are_refused_without_echoing_a_value(
    contacts: Path, catalog: Catalog
) -> None:
    with pytest.raises(PersonalData) as refused:
        _add(contacts, catalog)

    message = str(refused.value)
    assert "'contact': 178 of 178 sampled values are e-mail addresses" in message
    assert "'last_ip': " in message and "IP addresses" in message
    assert "--pii-column NAME" in message and "--allow-pii 'NAME=" in message
    assert "@example.org" not in message and "10.0." not in message
    assert catalog.entries() == [] and not catalog.path.exists()


def test_declared_columns_are_dropped_and_an_allowance_is_recorded_with_its_reason(
    contacts: Path, catalog: Catalog
) -> None:
    entry = _add(
        contacts,
        catalog,
        pii_columns=["contact"],
        pii_allowed={"last_ip": "addresses of the lab's own test rigs"},
    )

    saved = yaml.safe_load(catalog.path.read_text())["datasets"][0]
    assert saved["roles"]["pii"] == ["contact"]
    assert saved["pii_allowed"] == {"last_ip": "addresses of the lab's own test rigs"}
    assert Catalog.load(catalog.path).get("wine", "v1") == entry


@pytest.mark.parametrize(
    ("allowed", "error"),
    [({"no_such": "because"}, "not in the file"), ({"last_ip": "  "}, "gives no reason")],
)
def test_an_allowance_must_name_a_column_and_give_a_reason(
    contacts: Path, catalog: Catalog, allowed: dict[str, str], error: str
) -> None:
    with pytest.raises(InputError, match=error):
        _add(contacts, catalog, pii_columns=["contact"], pii_allowed=allowed)


def test_the_cli_refuses_with_exit_code_5_and_keeps_an_allowed_column(
    contacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["datasets", "add", str(contacts), "--name", "wine", "--version", "v1"]
    base += ["--target", "cultivar", "--curated-by", "t", "--pii-column", "contact"]

    assert main(base) == ExitCode.REFUSED
    assert "Refused: Column(s) that look like personal data" in capsys.readouterr().err
    assert main([*base, "--allow-pii", "last_ip"]) == ExitCode.USAGE
    assert "is not COLUMN=REASON" in capsys.readouterr().err

    assert main([*base, "--allow-pii", "last_ip=test rigs"]) == ExitCode.OK
    assert "Kept 'last_ip' as a feature despite the personal-data scan: test rigs" in (
        capsys.readouterr().out
    )
