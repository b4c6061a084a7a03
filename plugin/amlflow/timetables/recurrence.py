"""``RecurrenceTimetable``: an Airflow timetable that fires when an Azure ML v1 ``ScheduleRecurrence`` would.

Azure ML schedules follow Logic Apps' recurrence rules: a frequency unit, an interval counted from the start
time, and for "Day"/"Week" an optional set of hours, minutes and week days. Calendar schedules are computed on
the wall clock of the schedule's time zone and converted to UTC, so "22:30 in Los Angeles" stays 22:30 across
daylight-saving changes.

Airflow loads this module in every process that deserializes a DAG (the plugin registers the class), so it
imports only the standard library, pendulum and Airflow's timetable base.
"""

from __future__ import annotations

import calendar
import datetime
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.exceptions import AirflowTimetableInvalid
from airflow.timetables.base import DagRunInfo, DataInterval, Timetable

if TYPE_CHECKING:
    from airflow.timetables.base import TimeRestriction
    from pendulum import DateTime

FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_UTC = datetime.UTC
# Month schedules skip months lacking the start day; Feb 29 every 12 months skips up to 7 years in a row
# (across 2100), so a few thousand periods always reach a fire time when there is one.
_MAX_EMPTY_PERIODS = 5000
# Past this many times a day, the summary describes the hour and minute sets rather than listing them.
_MAX_LISTED_TIMES = 6


def _utcnow() -> datetime.datetime:
    """The current time; a seam so tests can move the clock."""
    return datetime.datetime.now(tz=_UTC)


def _invalid(message: str) -> AirflowTimetableInvalid:
    return AirflowTimetableInvalid(f"RecurrenceTimetable: {message}")


def _clock_values(values: Sequence[int] | None, name: str, upper: int) -> tuple[int, ...] | None:
    # An empty list selects no time at all; Azure ML treats it like a missing one, and so does this.
    if not values:
        return None
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
            raise _invalid(f"{name} must be integers from 0 to {upper}, got {value!r}")
    return tuple(sorted(set(values)))


def _join(words: Sequence[str]) -> str:
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _spans(values: Sequence[int]) -> str:
    """``0, 1, 2, 3, 9`` as ``0-3 and 9``: a long run of hours reads better as a range."""
    spans: list[list[int]] = []
    for value in values:
        if spans and value == spans[-1][-1] + 1:
            spans[-1].append(value)
        else:
            spans.append([value])
    words = [f"{span[0]}-{span[-1]}" if len(span) > 2 else ", ".join(map(str, span)) for span in spans]
    return _join(", ".join(words).split(", "))


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


class RecurrenceTimetable(Timetable):
    """Fire DAG runs on an Azure ML v1 ``ScheduleRecurrence``.

    :param frequency: ``"Minute"``, ``"Hour"``, ``"Day"``, ``"Week"`` or ``"Month"``.
    :param interval: How many frequency units lie between two periods (at least 1).
    :param start_time: ``"YYYY-MM-DDThh:mm:ss"``, a wall-clock time in ``time_zone``. Periods are counted from
        it, and nothing fires before it.
    :param time_zone: An IANA zone name such as ``"UTC"`` or ``"America/Los_Angeles"``.
    :param hours: For "Day" and "Week": the hours to fire at (default: the start time's hour).
    :param minutes: For "Day" and "Week": the minutes of each of those hours (default: the start time's minute).
    :param week_days: For "Week": ``"Monday"`` ... ``"Sunday"`` (default: the start time's week day).

    Every run is a trigger run: its data interval is the instant it fires at, as with ``CronTriggerTimetable``.
    Missed fire times are never caught up: the next run is the next fire time from now on.
    """

    #: How late a fire time may still start its run (see ``_just_missed``).
    GRACE = datetime.timedelta(minutes=5)

    periodic = True
    can_be_scheduled = True
    # Trigger runs' data interval ends at their fire time, so Airflow's default ordering is fire-time order.
    run_ordering: Sequence[str] = ("data_interval_end", "logical_date")

    def __init__(
        self,
        frequency: str,
        interval: int,
        start_time: str,
        time_zone: str = "UTC",
        hours: Sequence[int] | None = None,
        minutes: Sequence[int] | None = None,
        week_days: Sequence[str] | None = None,
    ) -> None:
        # Only what makes fire times impossible to compute is rejected here; Azure ML's own argument checks
        # (hours only with "Day"/"Week", and so on) belong to the ScheduleRecurrence port.
        if frequency not in FREQUENCIES:
            raise _invalid(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise _invalid(f"interval must be an integer of at least 1, got {interval!r}")
        try:
            start = datetime.datetime.fromisoformat(start_time)
        except (TypeError, ValueError):
            raise _invalid(f"start_time must look like YYYY-MM-DDThh:mm:ss, got {start_time!r}") from None
        if start.tzinfo is not None:
            raise _invalid(f"start_time must be a wall-clock time without an offset, got {start_time!r}")
        try:
            zone = zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, TypeError, ValueError):
            raise _invalid(f"unknown time zone {time_zone!r}") from None
        if week_days:
            unknown = [day for day in week_days if day not in WEEK_DAYS]
            if unknown:
                raise _invalid(f"week_days must be among {', '.join(WEEK_DAYS)}, got {unknown!r}")

        self._frequency = frequency
        self._interval = interval
        self._start_local = start.replace(microsecond=0)
        self._time_zone = time_zone
        self._zone = zone
        self._hours = _clock_values(hours, "hours", 23)
        self._minutes = _clock_values(minutes, "minutes", 59)
        self._week_days = tuple(sorted({WEEK_DAYS.index(day) for day in week_days})) if week_days else None
        self._start = self._to_utc(self._start_local)
        self.description = self._describe()

    # -- Airflow's timetable protocol ---------------------------------------------------------------------

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> RecurrenceTimetable:
        """Rebuild the timetable from :meth:`serialize`'s output."""
        return cls(
            frequency=data["frequency"],
            interval=data["interval"],
            start_time=data["start_time"],
            time_zone=data["time_zone"],
            hours=data.get("hours"),
            minutes=data.get("minutes"),
            week_days=data.get("week_days"),
        )

    def serialize(self) -> dict[str, Any]:
        """The constructor's arguments, as JSON values."""
        return {
            "frequency": self._frequency,
            "interval": self._interval,
            "start_time": self._start_local.isoformat(timespec="seconds"),
            "time_zone": self._time_zone,
            "hours": list(self._hours) if self._hours is not None else None,
            "minutes": list(self._minutes) if self._minutes is not None else None,
            "week_days": [WEEK_DAYS[day] for day in self._week_days] if self._week_days is not None else None,
        }

    def validate(self) -> None:
        """Nothing left to check: the constructor already rejected what cannot be scheduled."""

    @property
    def summary(self) -> str:
        """What the Airflow UI shows for the schedule, e.g. ``every 2 days at 22:30 (America/Los_Angeles)``."""
        return self.description

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """A manual run, like a scheduled one, covers just the instant it runs at."""
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """The next fire time from now on (and after the last run), within the DAG's start and end dates.

        ``restriction.catchup`` is ignored on purpose: Azure ML never runs a schedule's missed times ("if the
        start time is in the past, the first workload is run at the next calculated run time"), and a ported
        schedule must not start by replaying months of runs because its DAG has ``catchup=True``.
        """
        now = _utcnow()
        floor = self._start if restriction.earliest is None else max(self._start, restriction.earliest)
        last = last_automated_data_interval.end if last_automated_data_interval is not None else None
        fire = self._just_missed(now, floor, last)
        if fire is None:
            fire = self.next_fire_time(max(floor, now), inclusive=True)
            if fire is not None and last is not None and fire <= last:
                fire = self.next_fire_time(last)
        if fire is None or (restriction.latest is not None and fire > restriction.latest):
            return None
        return DagRunInfo.exact(pendulum.instance(fire, tz=pendulum.UTC))

    def _just_missed(
        self, now: datetime.datetime, floor: datetime.datetime, last: datetime.datetime | None
    ) -> datetime.datetime | None:
        # The DAG processor asks again on every parse, and between a fire time passing and the scheduler
        # creating its run a parse would otherwise move the next run past it, dropping it. So the latest fire
        # time up to GRACE ago still counts as due, once (it must be newer than the last run); anything older
        # was missed while Airflow was down and is skipped, as Azure ML skips it.
        recent = self.previous_fire_time(now)
        if recent is None or now - recent > self.GRACE or recent < floor:
            return None
        if last is not None and recent <= last:
            return None
        return recent

    # -- Fire times -----------------------------------------------------------------------------------------

    def next_fire_time(self, after: datetime.datetime, *, inclusive: bool = False) -> datetime.datetime | None:
        """The first fire time after ``after`` (an aware datetime), or at it when ``inclusive``, in UTC.

        ``None`` only if the schedule never fires again (which none of Azure ML's frequencies can do).
        """
        after = after.astimezone(_UTC)
        if self._frequency in ("Minute", "Hour"):
            return self._next_elapsed(after, inclusive)
        period = max(0, self._period_of(after.astimezone(self._zone).date()) - 1)
        for _ in range(_MAX_EMPTY_PERIODS):
            for fire in self._period_fire_times(period):
                if fire > after or (inclusive and fire == after):
                    return fire
            period += 1
        return None

    def previous_fire_time(self, before: datetime.datetime) -> datetime.datetime | None:
        """The last fire time at or before ``before`` (an aware datetime), in UTC; ``None`` before the first."""
        before = before.astimezone(_UTC)
        if before < self._start:
            return None
        if self._frequency in ("Minute", "Hour"):
            step = self._step()
            return self._start + ((before - self._start) // step) * step
        period = self._period_of(before.astimezone(self._zone).date()) + 1
        for _ in range(_MAX_EMPTY_PERIODS):
            if period < 0:
                break
            earlier = [fire for fire in self._period_fire_times(period) if fire <= before]
            if earlier:
                return earlier[-1]
            period -= 1
        return None

    def _step(self) -> datetime.timedelta:
        # Minute and Hour schedules count elapsed time, not wall-clock time: "every 2 hours" stays two hours
        # apart across a daylight-saving change instead of running twice or skipping an hour.
        return datetime.timedelta(minutes=self._interval) * (60 if self._frequency == "Hour" else 1)

    def _next_elapsed(self, after: datetime.datetime, inclusive: bool) -> datetime.datetime:
        step = self._step()
        if after < self._start:
            return self._start
        steps = -((self._start - after) // step)  # ceil((after - start) / step)
        fire = self._start + steps * step
        if fire == after and not inclusive:
            fire += step
        return fire

    def _period_of(self, day: datetime.date) -> int:
        """The index of the period (0 = the start time's) holding local date ``day``, or an earlier one."""
        start = self._start_local.date()
        if self._frequency == "Day":
            return (day - start).days // self._interval
        if self._frequency == "Week":
            monday = start - datetime.timedelta(days=start.weekday())
            return (day - monday).days // (7 * self._interval)
        months = (day.year - start.year) * 12 + day.month - start.month
        return months // self._interval

    def _period_fire_times(self, period: int) -> list[datetime.datetime]:
        """Period ``period``'s fire times in UTC, ascending, none before the start time."""
        start = self._start_local
        if self._frequency == "Month":
            month_index = start.year * 12 + start.month - 1 + period * self._interval
            year, month = divmod(month_index, 12)
            if start.day > calendar.monthrange(year, month + 1)[1]:
                return []
            local = [start.replace(year=year, month=month + 1)]
        else:
            if self._frequency == "Day":
                days: Iterable[datetime.date] = [start.date() + datetime.timedelta(days=period * self._interval)]
            else:
                monday = start.date() - datetime.timedelta(days=start.weekday() - 7 * self._interval * period)
                week_days = self._week_days if self._week_days is not None else (start.weekday(),)
                days = [monday + datetime.timedelta(days=day) for day in week_days]
            local = [datetime.datetime.combine(day, clock) for day in days for clock in self._clock_times()]
        # A wall time skipped by a daylight-saving change fires an hour later, which can reorder or merge it
        # with the period's other times: sort and de-duplicate in UTC.
        fires = sorted({self._to_utc(moment) for moment in local})
        # Azure ML: when the start time itself matches the given hours/minutes (and week days), the first run
        # is the next calculated time, not the start time.
        explicit_clock = self._hours is not None or self._minutes is not None
        return [fire for fire in fires if fire > self._start or (fire == self._start and not explicit_clock)]

    def _clock_times(self) -> list[datetime.time]:
        hours = self._hours if self._hours is not None else (self._start_local.hour,)
        minutes = self._minutes if self._minutes is not None else (self._start_local.minute,)
        # Azure ML fires on whole minutes of hours x minutes; the start time's seconds only count without them.
        second = self._start_local.second if self._hours is None and self._minutes is None else 0
        return [datetime.time(hour, minute, second) for hour in hours for minute in minutes]

    def _to_utc(self, local: datetime.datetime) -> datetime.datetime:
        # fold=0: a repeated wall time (clocks going back) fires once, at its first occurrence; a skipped one
        # (clocks going forward) is read with the offset before the change, i.e. an hour later on the clock.
        return local.replace(tzinfo=self._zone, fold=0).astimezone(_UTC)

    # -- Text for the UI ------------------------------------------------------------------------------------

    def _describe(self) -> str:
        unit = self._frequency.lower()
        every = f"every {unit}" if self._interval == 1 else f"every {self._interval} {unit}s"
        zone = f"({self._time_zone})"
        if self._frequency in ("Minute", "Hour"):
            return f"{every} from {self._start_local:%Y-%m-%d %H:%M} {zone}"
        if self._frequency == "Month":
            return f"{every} on the {_ordinal(self._start_local.day)} at {self._start_local:%H:%M} {zone}"
        if self._frequency == "Week":
            week_days = self._week_days if self._week_days is not None else (self._start_local.weekday(),)
            every = f"{every} on {_join([WEEK_DAYS[day] for day in week_days])}"
        return f"{every} at {self._describe_clock()} {zone}"

    def _describe_clock(self) -> str:
        times = self._clock_times()
        if len(times) <= _MAX_LISTED_TIMES:
            return _join([f"{clock:%H:%M}" for clock in times])
        hours = self._hours if self._hours is not None else (self._start_local.hour,)
        minutes = self._minutes if self._minutes is not None else (self._start_local.minute,)
        label = "minute" if len(minutes) == 1 else "minutes"
        return f"{label} {_join([f'{m:02d}' for m in minutes])} past hours {_spans(hours)}"

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.serialize().items() if value is not None)
        return f"{type(self).__name__}({arguments})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecurrenceTimetable):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(repr(self))
