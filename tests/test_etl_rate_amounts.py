"""A monthly or yearly rate keeps its own amount; only total_amount is the rate times its closed period."""
from __future__ import annotations

from decimal import Decimal

from etl.pipeline import build
from tests.ledger_factory import ledger_folder, row


def test_a_rate_with_a_closed_period_keeps_the_rate_as_its_amount(tmp_path):
    # Every amount valid: the case where the totals step once wrote the total over the row's amount.
    root = ledger_folder(tmp_path, [row(id="rate", amount="1000", amount_kind="monthly", date="2013-01/2013-12"),
                                    row(id="once", amount="500")])
    result = build(root)
    assert result.errors == []
    data = result.dataset.set_index("id")
    assert data.loc["rate", "amount"] == Decimal("1000")
    assert data.loc["rate", "total_amount"] == Decimal("12000")
    assert data.loc["rate", "amount_usd"] == Decimal("1000")
    assert data.loc["once", "amount"] == Decimal("500")
