"""``RecurrenceTimetable`` fires when Azure ML v1's ``ScheduleRecurrence`` would, and Airflow can store it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import zoneinfo

import pendulum
import pytest
from airflow.exceptions import AirflowTimetableInvalid
from airflow.timetables.base import DataInterval, TimeRestriction

from amlflow.timetables import recurrence
from amlflow.timetables.recurrence import RecurrenceTimetable

UTC = dt.UTC
NO_RESTRICTION = TimeRestriction(earliest=None, latest=None, catchup=False)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(UTC)


def fires(timetable: RecurrenceTimetable, after: dt.datetime, count: int) -> list[dt.datetime]:
    times = []
    for _ in range(count):
        after = timetable.next_fire_time(after)
        times.append(after)
    return times


@pytest.fixture
def clock(monkeypatch):
    """Set the timetable's idea of "now"."""

    def set_now(now: dt.datetime) -> None:
        monkeypatch.setattr(recurrence, "_utcnow", lambda: now)

    return set_now


def next_run(timetable, last=None, restriction=NO_RESTRICTION):
    interval = DataInterval.exact(pendulum.instance(last)) if last is not None else None
    return timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=restriction)


# -- Fire times per frequency -----------------------------------------------------------------------------


def test_minute_fires_every_interval_from_start_time():
    timetable = RecurrenceTimetable("Minute", 15, "2026-05-20T16:05:00", "UTC")
    assert timetable.next_fire_time(utc(2026, 5, 20, 16, 5), inclusive=True) == utc(2026, 5, 20, 16, 5)
    assert fires(timetable, utc(2026, 5, 20, 17, 0), 3) == [
        utc(2026, 5, 20, 17, 5),
        utc(2026, 5, 20, 17, 20),
        utc(2026, 5, 20, 17, 35),
    ]
    assert timetable.next_fire_time(utc(2020, 1, 1)) == utc(2026, 5, 20, 16, 5)


def test_hour_counts_elapsed_time_across_a_dst_change():
    timetable = RecurrenceTimetable("Hour", 5, "2026-03-07T22:00:00", "America/Los_Angeles")
    # 22:00 PST is 06:00Z; every 5 real hours, so the wall clock jumps by 6 over the spring-forward night.
    assert fires(timetable, utc(2026, 3, 8, 6), 3) == [utc(2026, 3, 8, 11), utc(2026, 3, 8, 16), utc(2026, 3, 8, 21)]
    assert fires(timetable, utc(2026, 3, 8, 6), 1)[0].astimezone(zoneinfo.ZoneInfo("America/Los_Angeles")).hour == 4


def test_every_other_day_at_22_30_keeps_the_wall_clock_through_dst():
    timetable = RecurrenceTimetable("Day", 2, "2026-03-01T08:00:00", "America/Los_Angeles", hours=[22], minutes=[30])
    assert fires(timetable, utc(2026, 3, 1), 5) == [
        local("America/Los_Angeles", 2026, 3, 1, 22, 30),  # 06:30Z next day (PST)
        local("America/Los_Angeles", 2026, 3, 3, 22, 30),
        local("America/Los_Angeles", 2026, 3, 5, 22, 30),
        local("America/Los_Angeles", 2026, 3, 7, 22, 30),
        local("America/Los_Angeles", 2026, 3, 9, 22, 30),  # 05:30Z (PDT)
    ]
    assert fires(timetable, utc(2026, 3, 1), 1) == [utc(2026, 3, 2, 6, 30)]
    assert fires(timetable, utc(2026, 3, 9), 1) == [utc(2026, 3, 10, 5, 30)]


def test_day_fires_at_every_hour_and_minute_combination_in_order():
    timetable = RecurrenceTimetable("Day", 1, "2026-01-01T00:00:00", "UTC", hours=[14, 10], minutes=[30, 0])
    assert fires(timetable, utc(2026, 1, 1), 5) == [
        utc(2026, 1, 1, 10, 0),
        utc(2026, 1, 1, 10, 30),
        utc(2026, 1, 1, 14, 0),
        utc(2026, 1, 1, 14, 30),
        utc(2026, 1, 2, 10, 0),
    ]


def test_day_without_hours_or_minutes_fires_at_start_times_clock():
    timetable = RecurrenceTimetable("Day", 3, "2026-01-01T07:45:00", "UTC", minutes=[15])
    # Missing hours: the start time's hour; given minutes replace its minute. 07:15 on 1 January is before
    # the start time, so the first run is three days later.
    assert fires(timetable, utc(2026, 1, 1), 2) == [utc(2026, 1, 4, 7, 15), utc(2026, 1, 7, 7, 15)]
    plain = RecurrenceTimetable("Day", 3, "2026-01-01T07:45:00", "UTC")
    assert fires(plain, utc(2025, 1, 1), 2) == [utc(2026, 1, 1, 7, 45), utc(2026, 1, 4, 7, 45)]


def test_start_time_matching_the_given_clock_does_not_fire_itself():
    # Azure ML: "If start_time matches week_days and time_of_day (or hours and minutes), then the first work
    # load does not run at start_time, but instead runs at the next calculated run time."
    timetable = RecurrenceTimetable("Day", 1, "2026-01-01T09:00:00", "UTC", hours=[9], minutes=[0])
    assert timetable.next_fire_time(utc(2026, 1, 1, 9), inclusive=True) == utc(2026, 1, 2, 9)


def test_week_fires_on_week_days_every_other_week_through_berlin_dst():
    timetable = RecurrenceTimetable(
        "Week", 2, "2026-03-12T12:00:00", "Europe/Berlin", hours=[6], minutes=[30], week_days=["Wednesday", "Monday"]
    )
    # Start: Thursday of the week of Monday 9 March; that week's Monday and Wednesday are before it.
    assert fires(timetable, utc(2026, 3, 1), 5) == [
        local("Europe/Berlin", 2026, 3, 23, 6, 30),  # 05:30Z (CET)
        local("Europe/Berlin", 2026, 3, 25, 6, 30),
        local("Europe/Berlin", 2026, 4, 6, 6, 30),  # 04:30Z (CEST, after 29 March)
        local("Europe/Berlin", 2026, 4, 8, 6, 30),
        local("Europe/Berlin", 2026, 4, 20, 6, 30),
    ]
    assert fires(timetable, utc(2026, 3, 1), 1) == [utc(2026, 3, 23, 5, 30)]
    assert fires(timetable, utc(2026, 4, 1), 1) == [utc(2026, 4, 6, 4, 30)]


def test_week_defaults_to_start_times_week_day():
    timetable = RecurrenceTimetable("Week", 1, "2026-01-01T18:30:00", "UTC")  # a Thursday
    assert fires(timetable, utc(2026, 1, 1), 2) == [utc(2026, 1, 1, 18, 30), utc(2026, 1, 8, 18, 30)]


def test_a_wall_time_skipped_by_dst_fires_an_hour_later_and_a_repeated_one_fires_once():
    timetable = RecurrenceTimetable("Day", 1, "2026-03-01T00:00:00", "America/Los_Angeles", hours=[1, 2], minutes=[30])
    # 8 March: 02:30 does not exist, read as 03:30 PDT (10:30Z).
    assert fires(timetable, utc(2026, 3, 8), 2) == [utc(2026, 3, 8, 9, 30), utc(2026, 3, 8, 10, 30)]
    # 1 November: 01:30 happens twice; only the first (PDT, 08:30Z) fires, then 02:30 PST (10:30Z).
    assert fires(timetable, utc(2026, 11, 1), 2) == [utc(2026, 11, 1, 8, 30), utc(2026, 11, 1, 10, 30)]


def test_month_on_the_31st_skips_shorter_months():
    timetable = RecurrenceTimetable("Month", 1, "2026-01-31T09:00:00", "UTC")
    assert fires(timetable, utc(2026, 1, 1), 5) == [
        utc(2026, 1, 31, 9),
        utc(2026, 3, 31, 9),
        utc(2026, 5, 31, 9),
        utc(2026, 7, 31, 9),
        utc(2026, 8, 31, 9),
    ]
    assert timetable.previous_fire_time(utc(2026, 5, 1)) == utc(2026, 3, 31, 9)


def test_month_interval_counts_from_start_month_in_its_zone():
    timetable = RecurrenceTimetable("Month", 3, "2026-11-01T09:00:00", "Europe/Berlin")
    assert fires(timetable, utc(2027, 1, 1), 2) == [
        local("Europe/Berlin", 2027, 2, 1, 9),
        local("Europe/Berlin", 2027, 5, 1, 9),
    ]


# -- When Airflow asks for the next run ----------------------------------------------------------------------


def test_start_time_in_the_past_runs_at_the_next_calculated_time(clock):
    clock(utc(2026, 12, 2, 7, 10))  # 06:55 is past, and longer ago than the grace for a just-missed run
    timetable = RecurrenceTimetable("Hour", 1, "2020-01-13T12:55:00", "UTC")
    info = next_run(timetable)
    assert info.run_after == utc(2026, 12, 2, 7, 55)
    assert info.data_interval == DataInterval(info.run_after, info.run_after)
    assert info.run_after.tzinfo is not None and info.run_after.utcoffset() == dt.timedelta(0)
    assert isinstance(info.run_after, pendulum.DateTime)


def test_start_time_in_the_future_is_the_first_run(clock):
    clock(utc(2026, 1, 1))
    timetable = RecurrenceTimetable("Month", 1, "2026-11-01T09:00:00", "UTC")
    assert next_run(timetable).run_after == utc(2026, 11, 1, 9)


def test_no_catch_up_after_a_gap_even_with_catchup(clock):
    timetable = RecurrenceTimetable("Day", 1, "2026-01-01T00:00:00", "UTC", hours=[6], minutes=[0])
    clock(utc(2026, 2, 10, 12, 0))  # the last run was on 1 February; the scheduler was down since
    for catchup in (False, True):
        restriction = TimeRestriction(earliest=None, latest=None, catchup=catchup)
        assert next_run(timetable, last=utc(2026, 2, 1, 6), restriction=restriction).run_after == utc(2026, 2, 11, 6)


def test_next_run_follows_the_last_one(clock):
    timetable = RecurrenceTimetable("Day", 1, "2026-01-01T00:00:00", "UTC", hours=[6, 18], minutes=[0])
    clock(utc(2026, 2, 1, 6, 0, 2))  # just after the run at 06:00 was created
    assert next_run(timetable, last=utc(2026, 2, 1, 6)).run_after == utc(2026, 2, 1, 18)


def test_a_fire_time_that_just_passed_still_runs_once(clock):
    # Each DAG parse asks again: a parse between 06:00 and the scheduler creating that run must not skip it.
    timetable = RecurrenceTimetable("Day", 1, "2026-01-01T00:00:00", "UTC", hours=[6, 18], minutes=[0])
    clock(utc(2026, 2, 1, 6, 0, 20))
    assert next_run(timetable, last=utc(2026, 1, 31, 18)).run_after == utc(2026, 2, 1, 6)
    assert next_run(timetable).run_after == utc(2026, 2, 1, 6)
    assert next_run(timetable, last=utc(2026, 2, 1, 6)).run_after == utc(2026, 2, 1, 18)
    clock(utc(2026, 2, 1, 6) + RecurrenceTimetable.GRACE + dt.timedelta(seconds=1))
    assert next_run(timetable, last=utc(2026, 1, 31, 18)).run_after == utc(2026, 2, 1, 18)


def test_dag_start_and_end_dates_bound_the_runs(clock):
    clock(utc(2026, 1, 1))
    timetable = RecurrenceTimetable("Day", 1, "2026-01-01T00:00:00", "UTC", hours=[6], minutes=[0])
    earliest = pendulum.datetime(2026, 3, 1, tz="UTC")
    assert next_run(timetable, restriction=TimeRestriction(earliest, None, False)).run_after == utc(2026, 3, 1, 6)
    latest = pendulum.datetime(2026, 1, 1, 5, tz="UTC")
    assert next_run(timetable, restriction=TimeRestriction(None, latest, False)) is None


def test_manual_runs_cover_just_their_instant():
    timetable = RecurrenceTimetable("Minute", 5, "2026-01-01T00:00:00", "UTC")
    at = pendulum.datetime(2026, 4, 1, 12, 3, tz="UTC")
    assert timetable.infer_manual_data_interval(run_after=at) == DataInterval(at, at)


# -- Construction, serialization, text --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frequency": "Year"},
        {"interval": 0},
        {"interval": "2"},
        {"time_zone": "Pacific Standard Time"},
        {"time_zone": "Mars/Olympus_Mons"},
        {"start_time": "tomorrow"},
        {"start_time": "2026-01-01T00:00:00+02:00"},
        {"hours": [24]},
        {"minutes": [-1]},
        {"week_days": ["Funday"]},
    ],
)
def test_what_cannot_be_scheduled_is_rejected(kwargs):
    arguments = {"frequency": "Week", "interval": 1, "start_time": "2026-01-01T00:00:00", "time_zone": "UTC"}
    with pytest.raises(AirflowTimetableInvalid):
        RecurrenceTimetable(**{**arguments, **kwargs})


def test_serialize_round_trip_through_json():
    timetable = RecurrenceTimetable(
        "Week", 2, "2026-03-12T12:00:00", "Europe/Berlin", hours=[18, 6], minutes=[30], week_days=["Friday", "Monday"]
    )
    data = json.loads(json.dumps(timetable.serialize()))
    assert data == {
        "frequency": "Week",
        "interval": 2,
        "start_time": "2026-03-12T12:00:00",
        "time_zone": "Europe/Berlin",
        "hours": [6, 18],
        "minutes": [30],
        "week_days": ["Monday", "Friday"],
    }
    copy = RecurrenceTimetable.deserialize(data)
    assert copy == timetable
    assert copy.summary == timetable.summary
    assert fires(copy, utc(2026, 3, 1), 4) == fires(timetable, utc(2026, 3, 1), 4)
    plain = RecurrenceTimetable("Minute", 5, "2026-01-01T00:00:00", "UTC")
    assert RecurrenceTimetable.deserialize(plain.serialize()) == plain


@pytest.mark.parametrize(
    ("arguments", "summary"),
    [
        (
            ("Day", 2, "2026-01-01T00:00:00", "America/Los_Angeles", [22], [30]),
            "every 2 days at 22:30 (America/Los_Angeles)",
        ),
        (("Day", 1, "2026-01-01T09:05:00", "UTC"), "every day at 09:05 (UTC)"),
        (
            ("Day", 1, "2026-01-01T00:00:00", "UTC", [10, 12, 14], [30]),
            "every day at 10:30, 12:30 and 14:30 (UTC)",
        ),
        (
            ("Day", 1, "2026-01-01T00:00:00", "UTC", list(range(24)), [0, 30]),
            "every day at minutes 00 and 30 past hours 0-23 (UTC)",
        ),
        (
            ("Week", 2, "2026-01-01T00:00:00", "UTC", [18], [30], ["Monday", "Wednesday"]),
            "every 2 weeks on Monday and Wednesday at 18:30 (UTC)",
        ),
        (("Week", 1, "2026-01-01T07:00:00", "Europe/Berlin"), "every week on Thursday at 07:00 (Europe/Berlin)"),
        (("Month", 1, "2026-01-31T09:00:00", "UTC"), "every month on the 31st at 09:00 (UTC)"),
        (("Month", 3, "2026-01-02T09:00:00", "UTC"), "every 3 months on the 2nd at 09:00 (UTC)"),
        (("Hour", 12, "2020-01-13T12:55:00", "UTC"), "every 12 hours from 2020-01-13 12:55 (UTC)"),
        (("Minute", 1, "2020-01-13T12:55:00", "UTC"), "every minute from 2020-01-13 12:55 (UTC)"),
    ],
)
def test_summary_reads_like_the_schedule(arguments, summary):
    timetable = RecurrenceTimetable(*arguments)
    assert timetable.summary == summary
    assert timetable.description == summary


# -- Airflow integration ------------------------------------------------------------------------------------


def test_the_plugin_registers_the_timetable():
    from airflow import plugins_manager

    registered = plugins_manager.get_timetables_plugins()
    assert registered["amlflow.timetables.recurrence.RecurrenceTimetable"] is RecurrenceTimetable


def test_airflow_serializes_and_deserializes_a_dag_with_it():
    from airflow.sdk import DAG
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.serialization.serialized_objects import DagSerialization

    timetable = RecurrenceTimetable("Day", 2, "2026-01-01T00:00:00", "America/Los_Angeles", [22], [30])
    encoded = encode_timetable(timetable)
    assert encoded["__type"] == "amlflow.timetables.recurrence.RecurrenceTimetable"
    assert decode_timetable(json.loads(json.dumps(encoded))) == timetable

    with DAG("recurrence_roundtrip", schedule=timetable, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        pass
    data = json.loads(json.dumps(DagSerialization.to_dict(dag)))
    restored = DagSerialization.from_dict(data)
    assert restored.timetable == timetable
    assert restored.timetable.summary == "every 2 days at 22:30 (America/Los_Angeles)"


def test_importing_the_plugin_stays_light():
    heavy = ("amlflow.api.app", "amlflow.operators", "amlflow.hooks", "amlflow.triggers", "amlflow.factory")
    probe = f"""
import sys
import amlflow.api.plugin
loaded = sorted(m for m in sys.modules if m.startswith({heavy!r}) or m in ("fastapi", "azure.storage.blob"))
assert not loaded, loaded
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


# -- Azure ML's TimeZone enum ----------------------------------------------------------------------------------


def test_every_time_zone_maps_to_an_existing_iana_zone():
    from amlflow.pipeline.core.time_zone import TimeZone, iana_name

    available = zoneinfo.available_timezones()
    assert len(TimeZone) == 131
    unmapped = [zone for zone in TimeZone if iana_name(zone) not in available]
    assert not unmapped
    assert iana_name(TimeZone.PacificStandardTime) == "America/Los_Angeles"
    assert iana_name(TimeZone.WEuropeStandardTime) == "Europe/Berlin"
    assert iana_name(TimeZone.UTC) == "Etc/UTC"
    assert TimeZone.UTC11.value == "UTC-11" and TimeZone.UTC12.value == "UTC+12"
    assert TimeZone("Pacific Standard Time (Mexico)") is TimeZone.PacificStandardTimeMexico
    # An IANA name from the table builds a timetable.
    RecurrenceTimetable("Day", 1, "2026-01-01T00:00:00", iana_name(TimeZone.IndiaStandardTime))
