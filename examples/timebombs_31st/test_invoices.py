"""A module that fails to import on the 31st of most months.

The next invoice date is computed when the module is imported, as "the same
day next month" with `date.replace`: on 31 January there is no 31 February,
so `replace` raises ValueError, pytest reports a collection error for this
file, and none of its tests run (pytest then stops the session: the other
file's tests do not run either). Caught by the month-end probes: "end of
January 2027 (last second)" is the first 31st whose next month is shorter.
"""
from datetime import date

TODAY = date.today()
NEXT_INVOICE = TODAY.replace(year=TODAY.year + TODAY.month // 12, month=TODAY.month % 12 + 1)


def test_next_invoice_is_in_the_future():
    assert NEXT_INVOICE > TODAY


def test_next_invoice_is_within_31_days():
    assert (NEXT_INVOICE - TODAY).days <= 31
