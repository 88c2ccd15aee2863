"""A licence that runs 365 days, shown as "from <a year before the end>".

The doctest fails when "today + 365 days" lands on 29 February (today is
1 March of the year before a leap year, e.g. 2027-03-01): the end has no
counterpart a year earlier and `date.replace` raises ValueError. The old
default probes (leap day itself, +1 year, New Year) never land on that day;
the month-boundary and offset-crossing probes do.
"""
from datetime import date, timedelta


def licence_period(today: date) -> tuple[date, date]:
    """The period shown on the licence page.

    >>> start, end = licence_period(date.today())
    >>> start <= date.today() < end
    True
    """
    end = today + timedelta(days=365)
    start = end.replace(year=end.year - 1)
    return start, end
