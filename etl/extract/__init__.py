"""Extract candidate transfers from article text, mark those already in a ledger, and append reviewed rows.

Modules, in the order the data flows: text (article → plain text with paragraph offsets), sentences, money
(money mentions), dates (dates near a mention), parties (payer / recipient), candidates (one ledger-format row per
mention), known (rows already in the ledgers), review (candidate files in and out), append (locked, validated,
atomic append to a ledger), cli (python -m etl extract).
"""
