"""Time bombs: each test passes today (2026-11-22) and fails at one hazard.

Every bomb depends only on the wall clock and TZ, so under a frozen clock it
is deterministic. The comment on each test names the hazard that catches it;
README.md lists the expected findings.
"""
import struct
import time
from datetime import date, datetime, timedelta, timezone

# --- next New Year -----------------------------------------------------------
# A licence (or certificate, or API key) checked into the repo with an expiry
# that was "far away" when someone wrote it.
LICENCE_EXPIRES = datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def licence_is_valid(at: datetime) -> bool:
    return at <= LICENCE_EXPIRES


def test_licence_is_valid():
    # Caught by: "next New Year 2027 (UTC)", 2027-01-01T00:00:00Z.
    assert licence_is_valid(datetime.now(timezone.utc))


# --- 29 February -------------------------------------------------------------
def renewal_date(start: date) -> date:
    # "Same day next year": date.replace raises ValueError on 29 February.
    return start.replace(year=start.year + 1)


def test_renewal_is_one_year_later():
    # Caught by: "leap day 2028-02-29" (the first instant that is 29 February
    # both locally and in UTC).
    today = date.today()
    assert (renewal_date(today) - today).days in (365, 366)


# --- DST transition ------------------------------------------------------------
def next_nightly_run(now: int) -> int:
    # The nightly job runs at the same local wall-clock time tomorrow. Naive
    # datetimes are local time: fromtimestamp/timestamp go through the C
    # library's localtime/mktime, which follow TZ.
    local = datetime.fromtimestamp(now)
    return int((local + timedelta(days=1)).timestamp())


def test_nightly_job_runs_every_24_hours():
    # Caught by: "DST start in <zone> (−1 s)" — the next 24 local hours hold
    # only 23 real ones. Needs a zone in effect with DST (e.g. TZ=Europe/Berlin);
    # in UTC it is stable.
    now = int(time.time())
    assert next_nightly_run(now) - now == 24 * 3600


# --- UTC midnight --------------------------------------------------------------
TOKEN_TTL = timedelta(minutes=5)


def quota_day(at: datetime) -> date:
    # The usage quota resets at midnight UTC: a token counts against the UTC
    # day it is used in.
    return at.astimezone(timezone.utc).date()


def test_token_is_charged_to_the_day_it_was_issued():
    # Caught by: "UTC midnight (−1 s)" — a token issued in the last five
    # minutes of a UTC day expires on the next one.
    issued = datetime.now(timezone.utc)
    assert quota_day(issued + TOKEN_TTL) == quota_day(issued)


# --- UTC+14 ----------------------------------------------------------------------
def utc_offset_field() -> str:
    # An export format whose offset field was validated against the range
    # the author believed in, ±12 hours. Real offsets run from −12 to +14.
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    hours = offset.total_seconds() / 3600
    if not -12 <= hours <= 12:
        raise ValueError(f"UTC offset out of range: {hours:+.2f} h")
    return f"{hours:+06.2f}"


def test_export_has_utc_offset():
    # Caught by: zone Pacific/Kiritimati (UTC+14), at any instant.
    assert utc_offset_field().startswith(("+", "-"))


# --- 2038 ----------------------------------------------------------------------
def record_header(kind: int) -> bytes:
    # A binary record: 1-byte kind, signed 32-bit Unix time.
    return struct.pack("<Bi", kind, int(time.time()))


def test_record_header_is_five_bytes():
    # Caught by: "2038 rollover (first second after)", 2038-01-19T03:14:08Z:
    # struct.error, the time no longer fits in 32 bits.
    assert len(record_header(1)) == 5
