"""The one usage record: adding keeps an unknown cost unknown; columns match the schema."""

from dataclasses import fields

from sweepq.usage import COLUMNS, NOTHING, Usage, columns


def test_fields_are_the_database_columns_in_order():
    assert tuple(f.name for f in fields(Usage)) == COLUMNS
    assert columns(Usage(1, 2, 3, 4, 0.5)) == (1, 2, 3, 4, 0.5)
    assert columns(None) == (None,) * 5


def test_adding_sums_tokens_and_known_costs():
    total = NOTHING + Usage(10, 5, 1, 2, 0.25) + Usage(1, 1, 0, 0, 0.5)
    assert total == Usage(11, 6, 1, 2, 0.75)


def test_an_unknown_cost_stays_unknown():
    total = NOTHING + Usage(10, 5, cost_usd=0.25) + Usage(1, 1) + Usage(2, 2, cost_usd=1.0)
    assert total.cost_usd is None and total.input_tokens == 13


def test_from_row_reads_null_tokens_as_zero_and_keeps_an_unknown_cost():
    row = dict.fromkeys(COLUMNS)
    assert Usage.from_row(row) == Usage()
    assert Usage.from_row({**row, "input_tokens": 7, "cost_usd": 0.1}) == Usage(7, cost_usd=0.1)
