"""The price table: defaults from the reference, a file that overrides some keys, and bad files
refused naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gworker.usage import DEFAULT_PRICES, PriceError, load_prices
from gworker.usage.prices import parse_prices


def test_defaults_are_the_reference_prices() -> None:
    assert DEFAULT_PRICES.cpu_core_second == 0.0000131
    assert DEFAULT_PRICES.memory_gib_second == 0.00000222
    assert DEFAULT_PRICES.gpu("T4") == 0.000164
    assert DEFAULT_PRICES.gpu("H100") == 0.00139
    assert DEFAULT_PRICES.gpu("A100") == DEFAULT_PRICES.gpu("A100-40GB")  # a family: its cheapest
    assert DEFAULT_PRICES.gpu(None) == 0


def test_a_file_under_gw_home_overrides_only_its_keys(tmp_path: Path) -> None:
    assert load_prices(tmp_path) is DEFAULT_PRICES
    (tmp_path / "prices.json").write_text(json.dumps({"gpu_second": {"H100": 0.0005}}))
    prices = load_prices(tmp_path)
    assert prices.gpu("H100") == 0.0005
    assert prices.gpu("T4") == 0.000164
    assert prices.cpu_core_second == DEFAULT_PRICES.cpu_core_second
    assert prices.source == str(tmp_path / "prices.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cpu_core_second": "cheap"}, r"cpu_core_second='cheap': expected a number"),
        ({"memory_gib_second": -1}, r"memory_gib_second=-1: expected a finite price >= 0"),
        ({"gpu_second": {"H900": 1}}, r"gpu_second.H900: unknown GPU type; expected one of T4"),
        ({"gpu_second": {"T4": True}}, r"gpu_second.T4=True: expected a number"),
        ({"gpu_second": [1]}, r"gpu_second=\[1\]: expected an object"),
        ({"cpu": 1}, r"unknown key 'cpu'; expected cpu_core_second"),
        ([1, 2], r"expected a JSON object"),
    ],
)
def test_bad_values_name_the_key(data: object, message: str) -> None:
    with pytest.raises(PriceError, match=message):
        parse_prices(data, "prices.json")


def test_a_file_that_is_not_json_says_so(tmp_path: Path) -> None:
    (tmp_path / "prices.json").write_text("{cpu")
    with pytest.raises(PriceError, match=r"prices.json is not valid JSON"):
        load_prices(tmp_path)
