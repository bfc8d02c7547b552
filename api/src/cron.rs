//! Cron schedules as CronJobs use them: robfig/cron's standard parser (five fields, names,
//! ranges, steps, `@daily`-style macros, an optional `TZ=` prefix) and the next matching time
//! in a time zone. Admission validation and the CronJob controller share it.
//!
//! Semantics follow robfig/cron v3, which Kubernetes uses, with two deliberate differences:
//! `7` in the day-of-week field means Sunday (as in Vixie cron), and a wall-clock time that a
//! DST change repeats fires once, at its first occurrence, unless the minute or hour field is a
//! wildcard (Debian cron's rule; robfig fires both, kubernetes/kubernetes#121594). A wall-clock
//! time that a DST change skips does not fire, as in robfig.

use jiff::civil::Date;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned};

/// Set in a field's bits when it was written as `*` or `?` without a step: the day-of-month
/// and day-of-week fields are then combined with AND instead of OR.
const STAR: u64 = 1 << 63;

/// Why a schedule or time zone name does not parse. The messages are robfig/cron's (and Go's),
/// so that they read as Kubernetes' do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("empty spec string")]
    Empty,
    #[error("provided bad location {name}: {reason}")]
    BadLocation { name: String, reason: String },
    #[error("unrecognized descriptor: {0}")]
    Descriptor(String),
    #[error("expected exactly 5 fields, found {count}: [{fields}]")]
    FieldCount { count: usize, fields: String },
    #[error("failed to parse int from {0}: strconv.Atoi: parsing {0:?}: invalid syntax")]
    NotANumber(String),
    #[error("failed to parse int from {0}: strconv.Atoi: parsing {0:?}: value out of range")]
    OutOfRange(String),
    #[error("negative number ({number}) not allowed: {expr}")]
    Negative { number: i64, expr: String },
    #[error("too many hyphens: {0}")]
    Hyphens(String),
    #[error("too many slashes: {0}")]
    Slashes(String),
    #[error("beginning of range ({start}) below minimum ({min}): {expr}")]
    BelowMinimum { start: u32, min: u32, expr: String },
    #[error("end of range ({end}) above maximum ({max}): {expr}")]
    AboveMaximum { end: u32, max: u32, expr: String },
    #[error("beginning of range ({start}) beyond end of range ({end}): {expr}")]
    Backwards { start: u32, end: u32, expr: String },
    #[error("step of range should be a positive number: {0}")]
    ZeroStep(String),
    #[error("unknown time zone {0}")]
    UnknownTimeZone(String),
}

/// A parsed cron schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Whether the minute or hour field starts with a wildcard (`*`, `*/5`): such schedules
    /// keep firing through an hour that a DST change repeats.
    wildcard_clock: bool,
    /// The zone of a `TZ=` / `CRON_TZ=` prefix.
    time_zone: Option<TimeZone>,
}

/// The allowed values of one field, and the names it accepts.
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTE: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
/// Day of week; 7 is accepted as another Sunday and folded onto 0.
const DOW: Bounds = Bounds {
    min: 0,
    max: 7,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// All bits of a field from `min` to `max`.
fn all(bounds: &Bounds) -> u64 {
    bits(bounds.min, bounds.max, 1) | STAR
}

fn bits(start: u32, end: u32, step: u32) -> u64 {
    (start..=end)
        .step_by(step as usize)
        .fold(0, |acc, v| acc | (1 << v))
}

/// Resolves an IANA time zone name as Go's `time.LoadLocation` would for a CronJob: exact
/// spelling (the database is searched without regard to case, Go's is not), `UTC` and the
/// empty name as UTC, no relative paths.
pub fn time_zone(name: &str) -> Result<TimeZone, CronError> {
    if name.is_empty() || name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    let unknown = || CronError::UnknownTimeZone(name.to_owned());
    let plausible = name.split('/').all(|part| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
    });
    if !plausible {
        return Err(unknown());
    }
    let tz = TimeZone::get(name).map_err(|_| unknown())?;
    if tz.iana_name() != Some(name) {
        return Err(unknown());
    }
    Ok(tz)
}

impl Schedule {
    /// Parses a schedule as robfig/cron's `ParseStandard` does.
    pub fn parse(spec: &str) -> Result<Schedule, CronError> {
        if spec.is_empty() {
            return Err(CronError::Empty);
        }
        let mut spec = spec;
        let mut time_zone = None;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let (prefix, rest) = spec.split_once(' ').unwrap_or((spec, ""));
            let name = prefix.split_once('=').map_or("", |(_, name)| name);
            let tz = time_zone_of_prefix(name)?;
            time_zone = Some(tz);
            spec = rest.trim();
        }
        if spec.starts_with('@') {
            let mut schedule = descriptor(spec)?;
            schedule.time_zone = time_zone;
            return Ok(schedule);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::FieldCount {
                count: fields.len(),
                fields: fields.join(" "),
            });
        }
        let starts_wild = |f: &str| f.starts_with('*') || f.starts_with('?');
        let mut dow = field(fields[4], &DOW)?;
        if dow & (1 << 7) != 0 {
            dow = (dow & !(1 << 7)) | 1;
        }
        Ok(Schedule {
            minute: field(fields[0], &MINUTE)?,
            hour: field(fields[1], &HOUR)?,
            dom: field(fields[2], &DOM)?,
            month: field(fields[3], &MONTH)?,
            dow,
            wildcard_clock: starts_wild(fields[0]) || starts_wild(fields[1]),
            time_zone,
        })
    }

    /// The zone of the schedule's `TZ=` prefix, if it has one.
    pub fn time_zone(&self) -> Option<&TimeZone> {
        self.time_zone.as_ref()
    }

    /// The first time strictly after `after` (at whole seconds) that the schedule fires,
    /// computed in the schedule's `TZ=` zone if it has one and in `after`'s zone otherwise, and
    /// returned in `after`'s zone. `None` when nothing matches within five years (`30 2 31 2 *`).
    pub fn next_after(&self, after: &Zoned) -> Option<Zoned> {
        let tz = self
            .time_zone
            .clone()
            .unwrap_or_else(|| after.time_zone().clone());
        let start = Timestamp::from_second(after.timestamp().as_second().checked_add(1)?).ok()?;
        let mut t = start.to_zoned(tz.clone());
        let year_limit = t.year() + 5;
        loop {
            let found = self.earliest_from(t, year_limit)?;
            if self.wildcard_clock || !is_repeat(&tz, &found) {
                return Some(found.with_time_zone(after.time_zone().clone()));
            }
            t = found.checked_add(SignedDuration::from_secs(1)).ok()?;
        }
    }

    /// robfig/cron's `SpecSchedule.Next` from `t` (inclusive): walks months and days in civil
    /// time, hours and minutes in absolute time, so that hours a DST change skips are never
    /// matched. Starting an hour or minute resets it in absolute time too, so that the walk
    /// stays in the same occurrence of a repeated hour.
    fn earliest_from(&self, mut t: Zoned, year_limit: i16) -> Option<Zoned> {
        let tz = t.time_zone().clone();
        let mut added = false;
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            while self.month & (1 << t.month()) == 0 {
                added = true;
                let next = t
                    .date()
                    .first_of_month()
                    .checked_add(jiff::Span::new().months(1))
                    .ok()?;
                t = start_of(next, &tz)?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(&t) {
                added = true;
                t = start_of(t.date().tomorrow().ok()?, &tz)?;
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while self.hour & (1 << t.hour()) == 0 {
                if !added {
                    added = true;
                    let into_hour = i64::from(t.minute()) * 60 + i64::from(t.second());
                    t = t.checked_sub(SignedDuration::from_secs(into_hour)).ok()?;
                }
                let day = t.date();
                t = t.checked_add(SignedDuration::from_hours(1)).ok()?;
                if t.date() != day {
                    continue 'wrap;
                }
            }
            while self.minute & (1 << t.minute()) == 0 {
                if !added {
                    added = true;
                    t = t
                        .checked_sub(SignedDuration::from_secs(i64::from(t.second())))
                        .ok()?;
                }
                t = t.checked_add(SignedDuration::from_mins(1)).ok()?;
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            if t.second() != 0 {
                added = true;
                let to_minute = 60 - i64::from(t.second());
                t = t.checked_add(SignedDuration::from_secs(to_minute)).ok()?;
                continue 'wrap;
            }
            return Some(t);
        }
    }

    /// robfig's day rule: when either day field is a plain `*`, both must match; when both
    /// are restricted, either may.
    fn day_matches(&self, t: &Zoned) -> bool {
        let dom = self.dom & (1 << t.day()) != 0;
        let dow = self.dow & (1 << t.weekday().to_sunday_zero_offset()) != 0;
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }
}

/// The zone named in a `TZ=` prefix, with robfig's message when it does not load.
fn time_zone_of_prefix(name: &str) -> Result<TimeZone, CronError> {
    if name == "Local" {
        return Ok(TimeZone::system());
    }
    time_zone(name).map_err(|err| CronError::BadLocation {
        name: name.to_owned(),
        reason: err.to_string(),
    })
}

/// The first instant of `date` in `tz` (after the gap when midnight does not exist).
fn start_of(date: Date, tz: &TimeZone) -> Option<Zoned> {
    date.to_zoned(tz.clone()).ok()?.start_of_day().ok()
}

/// Whether `t` is the second occurrence of a wall-clock time that a DST change repeats.
fn is_repeat(tz: &TimeZone, t: &Zoned) -> bool {
    match tz.to_ambiguous_zoned(t.datetime()).offset() {
        AmbiguousOffset::Fold { after, .. } => t.offset() == after,
        _ => false,
    }
}

/// `@yearly`, `@monthly`, ...
fn descriptor(spec: &str) -> Result<Schedule, CronError> {
    let minute = 1;
    let (hour, dom, month, dow) = match spec {
        "@yearly" | "@annually" => (1, 1 << 1, 1 << 1, all(&DOW)),
        "@monthly" => (1, 1 << 1, all(&MONTH), all(&DOW)),
        "@weekly" => (1, all(&DOM), all(&MONTH), 1),
        "@daily" | "@midnight" => (1, all(&DOM), all(&MONTH), all(&DOW)),
        "@hourly" => (all(&HOUR), all(&DOM), all(&MONTH), all(&DOW)),
        _ => return Err(CronError::Descriptor(spec.to_owned())),
    };
    Ok(Schedule {
        minute,
        hour,
        dom,
        month,
        dow: dow & !(1 << 7),
        wildcard_clock: spec == "@hourly",
        time_zone: None,
    })
}

/// One field: a comma-separated list of ranges (empty items are skipped, as robfig does).
fn field(text: &str, bounds: &Bounds) -> Result<u64, CronError> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .try_fold(0, |acc, part| Ok(acc | range(part, bounds)?))
}

/// `*`, `?`, `N`, `N-M`, each optionally `/STEP`; `N/STEP` means `N-max/STEP`.
fn range(expr: &str, bounds: &Bounds) -> Result<u64, CronError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut extra) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (bounds.min, bounds.max, STAR)
    } else {
        let start = number_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => number_or_name(low_and_high[1], bounds)?,
            _ => return Err(CronError::Hyphens(expr.to_owned())),
        };
        (start, end, 0)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = number(range_and_step[1])?;
            if single {
                end = bounds.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(CronError::Slashes(expr.to_owned())),
    };
    if start < bounds.min {
        return Err(CronError::BelowMinimum {
            start,
            min: bounds.min,
            expr: expr.to_owned(),
        });
    }
    if end > bounds.max {
        return Err(CronError::AboveMaximum {
            end,
            max: bounds.max,
            expr: expr.to_owned(),
        });
    }
    if start > end {
        return Err(CronError::Backwards {
            start,
            end,
            expr: expr.to_owned(),
        });
    }
    if step == 0 {
        return Err(CronError::ZeroStep(expr.to_owned()));
    }
    Ok(bits(start, end, step) | extra)
}

fn number_or_name(expr: &str, bounds: &Bounds) -> Result<u32, CronError> {
    let lower = expr.to_ascii_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some((_, value)) => Ok(*value),
        None => number(expr),
    }
}

/// Go's `strconv.Atoi` plus robfig's check for negative numbers.
fn number(expr: &str) -> Result<u32, CronError> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CronError::NotANumber(expr.to_owned()));
    }
    let value: i64 = expr
        .parse()
        .map_err(|_| CronError::OutOfRange(expr.to_owned()))?;
    if value < 0 {
        return Err(CronError::Negative {
            number: value,
            expr: expr.to_owned(),
        });
    }
    // Anything this large is above every field's maximum; saturate for the message.
    Ok(u32::try_from(value).unwrap_or(u32::MAX))
}

#[cfg(test)]
#[path = "cron_test.rs"]
mod tests;
