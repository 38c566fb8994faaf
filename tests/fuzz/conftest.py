from __future__ import annotations

from pathlib import Path

import pytest

from services.classifier.tagger import Tagger, load_tagger
from tests.fuzz.cases import CASES

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="session")
def tagger() -> Tagger:
    return load_tagger(CONFIG / "taxonomy.yaml", CONFIG / "gazetteer")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    terminalreporter.section("fuzz cases")
    for name, count in sorted(CASES.items()):
        terminalreporter.write_line(f"{count:7d}  {name}")
    terminalreporter.write_line(f"{sum(CASES.values()):7d}  total")
