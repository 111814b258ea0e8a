"""``gw advise``: every rule fires on the app written against it (at the line its comment marks)
and on nothing in the app written the recommended way, the README's apps or examples/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gworker.advise import advise
from gworker.usage import DEFAULT_PRICES

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "tests" / "apps"
BAD, CLEAN = APPS / "advise_bad.py", APPS / "advise_clean.py"
MARKED = {
    m.group(1): n
    for n, line in enumerate(BAD.read_text().splitlines(), 1)
    if (m := re.search(r"# rule: ([a-z-]+)", line))
}
MONTH = 30 * 86400


def _rules(path: Path, observed: dict | None = None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in advise(path, DEFAULT_PRICES, observed):
        out.setdefault(a.rule, []).append(a.where.rsplit(":", 1)[1])
    return out


@pytest.mark.parametrize("rule", sorted(MARKED))
def test_each_rule_fires_where_the_code_breaks_it_and_not_on_the_clean_app(rule: str) -> None:
    assert str(MARKED[rule]) in _rules(BAD).get(rule, []), _rules(BAD)
    assert rule not in _rules(CLEAN)


def test_the_clean_app_gets_no_advice() -> None:
    assert advise(CLEAN, DEFAULT_PRICES) == []


def test_no_rule_fires_on_the_examples(tmp_path: Path) -> None:
    for example in sorted((ROOT / "examples").glob("*.py")):
        assert advise(example, DEFAULT_PRICES) == [], example.name


def test_no_rule_fires_on_the_readme_apps(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks
    for n, block in enumerate(blocks):
        path = tmp_path / f"readme_{n}.py"
        path.write_text(block)
        assert advise(path, DEFAULT_PRICES) == [], block


def _seen(tag: str, **fields: object) -> dict:
    base = {"window_s": 86400.0, "call_window_s": 86400.0, "mean_start_s": 2.0}
    return {tag: {**base, **fields}}


def _usage(
    containers: int, gpu: str | None, gpu_s: float, peak_mib: float, gpu_mib: float | None = None
) -> dict:
    return {"containers": containers, "gpu_type": gpu, "gpu_seconds": gpu_s,
            "memory_peak_mib": peak_mib, "gpu_memory_peak_mib": gpu_mib}  # fmt: skip


def test_gpu_larger_than_observed_memory_names_a_cheaper_type_and_the_saving() -> None:
    small = _seen("Model", usage=_usage(1, "H100", 3600, 6 * 1024), calls={"calls": 10})
    (advice,) = [a for a in advise(CLEAN, DEFAULT_PRICES, small) if a.rule == "gpu-oversized"]
    assert 'gpu="T4"' in advice.change  # 6 GiB x 1.2 fits 16 GB
    saving = (0.00139 - 0.000164) * 3600 * MONTH / 86400
    assert advice.usd_per_month == pytest.approx(saving)
    big = _seen("Model", usage=_usage(1, "H100", 3600, 70 * 1024), calls={"calls": 10})
    assert "gpu-oversized" not in _rules(CLEAN, big)  # 84 GB: nothing cheaper holds it


def test_measured_gpu_memory_wins_over_host_memory() -> None:
    # 2 GiB of host memory, but 30 GiB on the GPU (NVML): a 40 GB A100 is the cheapest fit
    seen = _seen("Model", usage=_usage(1, "H100", 3600, 2 * 1024, 30 * 1024), calls={"calls": 1})
    (advice,) = [a for a in advise(CLEAN, DEFAULT_PRICES, seen) if a.rule == "gpu-oversized"]
    assert 'gpu="L40S"' in advice.change  # 36 GB with room: L40S (48 GB) is cheapest
    assert "30.0 GiB each" in advice.why


def test_warm_containers_on_a_rarely_called_function_cost_their_idle_month() -> None:
    rare = _seen("Model", calls={"calls": 24})  # one an hour
    (advice,) = [a for a in advise(BAD, DEFAULT_PRICES, rare) if a.rule == "warm-rarely-called"
                 and a.function == "Model"]  # fmt: skip
    per_s = 0.125 * 0.0000131 + 128 / 1024 * 0.00000222 + 0.00139
    assert advice.usd_per_month == pytest.approx(2 * per_s * MONTH)
    busy = _seen("Model", calls={"calls": 24 * 600})
    assert "Model" not in [
        a.function for a in advise(BAD, DEFAULT_PRICES, busy) if a.rule == "warm-rarely-called"
    ]


def test_an_idle_timeout_that_causes_cold_starts_is_priced_from_them() -> None:
    cold = _seen("Model", usage=_usage(40, None, 0, 100), calls={"calls": 50})
    (advice,) = [a for a in advise(BAD, DEFAULT_PRICES, cold) if a.rule == "idle-cold-starts"]
    per_s = 0.125 * 0.0000131 + 128 / 1024 * 0.00000222 + 0.00139
    assert advice.usd_per_month == pytest.approx(40 * 2.0 * per_s * MONTH / 86400)
    assert "idle_timeout=40" in advice.change and advice.latency_s == 2.0
    warm = _seen("Model", usage=_usage(2, None, 0, 100), calls={"calls": 50})
    assert "idle-cold-starts" not in _rules(BAD, warm)


def test_advice_is_ranked_by_money_then_latency() -> None:
    found = advise(BAD, DEFAULT_PRICES)
    assert found[0].rule == "warm-rarely-called"  # the only one with a monthly cost
    keys = [(-a.usd_per_month, -a.latency_s, -a.severity) for a in found]
    assert keys == sorted(keys)


def test_cli_prints_json_and_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    def gw(*args: str) -> subprocess.CompletedProcess[str]:
        env = {"GW_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
        return subprocess.run(
            [sys.executable, "-m", "gworker.cli", "advise", *args],
            capture_output=True, text=True, env={**env, "PYTHONPATH": ":".join(sys.path)},
        )  # fmt: skip

    r = gw(str(BAD), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {row["rule"] for row in rows} == set(MARKED)
    assert {"where", "why", "change", "effect", "usd_per_month"} <= set(rows[0])
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    r = gw(str(broken))
    assert r.returncode != 0 and "does not parse" in r.stderr
    r = gw(str(BAD), "--app", "x", "--since", "soon")
    assert r.returncode != 0 and "since='soon'" in r.stderr
    r = gw(str(BAD), "--env", "prod")
    assert r.returncode != 0 and "add --app NAME" in r.stderr


def test_what_the_code_computes_is_read_from_the_deployed_spec(tmp_path: Path) -> None:
    app = tmp_path / "computed.py"
    app.write_text(
        "import os\nimport gworker_client as gw\napp = gw.App('c')\n"
        "@app.function(gpu=os.environ.get('GPU', 'H100'))\ndef f():\n    return 1\n"
    )
    assert advise(app, DEFAULT_PRICES) == []  # the code alone does not say which GPU
    seen = _seen("f", spec={"gpu": [{"type": "H100", "count": 1}]})
    assert "gpu-fallbacks" in _rules(app, seen)
