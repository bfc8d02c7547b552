//! Tests of the cron parser: accepted and refused schedules with robfig's messages, and next
//! times across month ends, leap years, the day-of-month/day-of-week rule and DST changes.

use jiff::{Timestamp, Zoned};

use super::*;

/// `count` fire times of `spec` in `zone` after `start` (RFC 3339 with offset), written with
/// their offset.
fn next_times(spec: &str, zone: &str, start: &str, count: usize) -> Vec<String> {
    let schedule = Schedule::parse(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    let tz = time_zone(zone).unwrap_or_else(|e| panic!("{zone}: {e}"));
    let mut t: Zoned = start
        .parse::<Timestamp>()
        .expect("start is RFC 3339")
        .to_zoned(tz);
    let mut out = Vec::new();
    for _ in 0..count {
        match schedule.next_after(&t) {
            Some(next) => {
                out.push(next.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
                t = next;
            }
            None => break,
        }
    }
    out
}

#[test]
fn accepted_schedules() {
    for spec in [
        "* * * * *",
        "*/5 * * * *",
        "0 0 * * *",
        "@hourly",
        "@daily",
        "@midnight",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "0 9 * * MON-FRI",
        "0 9 * * mon-fri",
        "0 9 * * Mon,Wed,fRi",
        "0 0 1 JAN *",
        "0 0 1 jan,Jul *",
        "0 0 1 feb-DEC/2 *",
        "1-10/2 * * * *",
        "5/15 * * * *",
        "0 0 * * 7",
        "0 0 * * 0-7",
        "? ? ? ? ?",
        "0 0 1,15 * *",
        "0,,30 * * * *",
        "  0   0  *  *  *  ",
        "TZ=Europe/Berlin 0 9 * * *",
        "CRON_TZ=UTC 0 9 * * *",
        "TZ=America/New_York @daily",
        "+5 * * * *",
        "00 09 * * *",
    ] {
        if let Err(err) = Schedule::parse(spec) {
            panic!("{spec:?} refused: {err}");
        }
    }
}

#[test]
fn refused_schedules_say_why() {
    let cases = [
        ("", "empty spec string"),
        ("x", "expected exactly 5 fields, found 1: [x]"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        (
            "* * * * * *",
            "expected exactly 5 fields, found 6: [* * * * * *]",
        ),
        ("61 * * * *", "end of range (61) above maximum (59): 61"),
        ("* 24 * * *", "end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * 32 * *", "end of range (32) above maximum (31): 32"),
        ("* * * 13 *", "end of range (13) above maximum (12): 13"),
        ("* * * 0 *", "beginning of range (0) below minimum (1): 0"),
        ("* * * * 8", "end of range (8) above maximum (7): 8"),
        (
            "a * * * *",
            "failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax",
        ),
        (
            "MON * * * *",
            "failed to parse int from MON: strconv.Atoi: parsing \"MON\": invalid syntax",
        ),
        (
            "* * * JANUARY *",
            "failed to parse int from JANUARY: strconv.Atoi: parsing \"JANUARY\": invalid syntax",
        ),
        (
            "* * * * MON-",
            "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax",
        ),
        (
            "99999999999999999999 * * * *",
            "failed to parse int from 99999999999999999999: strconv.Atoi: parsing \"99999999999999999999\": value out of range",
        ),
        (
            "*/0 * * * *",
            "step of range should be a positive number: */0",
        ),
        (
            "5-1 * * * *",
            "beginning of range (5) beyond end of range (1): 5-1",
        ),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        (
            "0 0 * * FRI-MON",
            "beginning of range (5) beyond end of range (1): FRI-MON",
        ),
        ("@every 5m", "unrecognized descriptor: @every 5m"),
        ("@reboot", "unrecognized descriptor: @reboot"),
        ("@Daily", "unrecognized descriptor: @Daily"),
        (
            "TZ=Mars/Olympus * * * * *",
            "provided bad location Mars/Olympus: unknown time zone Mars/Olympus",
        ),
        (
            "CRON_TZ=europe/berlin * * * * *",
            "provided bad location europe/berlin: unknown time zone europe/berlin",
        ),
    ];
    for (spec, message) in cases {
        match Schedule::parse(spec) {
            Ok(_) => panic!("{spec:?} accepted"),
            Err(err) => assert_eq!(err.to_string(), message, "{spec:?}"),
        }
    }
}

#[test]
fn time_zone_names() {
    for name in [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "Etc/GMT+5",
    ] {
        let tz = time_zone(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(tz.iana_name().is_some(), "{name}");
    }
    for name in [
        "Mars/Olympus",
        "europe/berlin",
        "../etc/passwd",
        "Europe//Berlin",
        "-x",
    ] {
        assert_eq!(
            time_zone(name).map(|_| ()),
            Err(CronError::UnknownTimeZone(name.to_owned())),
            "{name}"
        );
    }
}

#[test]
fn next_times_in_utc() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "*/15 * * * *",
            "2024-01-01T00:07:30Z",
            &[
                "2024-01-01T00:15:00+00:00",
                "2024-01-01T00:30:00+00:00",
                "2024-01-01T00:45:00+00:00",
                "2024-01-01T01:00:00+00:00",
            ],
        ),
        (
            "* * * * *",
            "2024-01-01T00:00:00Z",
            &["2024-01-01T00:01:00+00:00", "2024-01-01T00:02:00+00:00"],
        ),
        (
            "0 0 * * *",
            "2024-01-31T12:00:00Z",
            &["2024-02-01T00:00:00+00:00", "2024-02-02T00:00:00+00:00"],
        ),
        // Strictly after the start, and months without a 31st are skipped.
        (
            "0 0 31 * *",
            "2024-01-31T00:00:00Z",
            &["2024-03-31T00:00:00+00:00", "2024-05-31T00:00:00+00:00"],
        ),
        // Leap days only.
        (
            "0 0 29 2 *",
            "2023-03-01T00:00:00Z",
            &["2024-02-29T00:00:00+00:00", "2028-02-29T00:00:00+00:00"],
        ),
        (
            "0 0 1 * *",
            "2024-12-15T00:00:00Z",
            &["2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00"],
        ),
        (
            "59 23 31 12 *",
            "2024-12-31T23:59:00Z",
            &["2025-12-31T23:59:00+00:00"],
        ),
        // Both day fields restricted: the 1st of the month or any Monday (2024-01-01 is a Monday).
        (
            "0 0 1 * MON",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-08T00:00:00+00:00",
                "2024-01-15T00:00:00+00:00",
                "2024-01-22T00:00:00+00:00",
                "2024-01-29T00:00:00+00:00",
                "2024-02-01T00:00:00+00:00",
                "2024-02-05T00:00:00+00:00",
            ],
        ),
        // A stepped day of month is restricted too, so the OR rule holds.
        (
            "0 0 */10 * MON",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-08T00:00:00+00:00",
                "2024-01-11T00:00:00+00:00",
                "2024-01-15T00:00:00+00:00",
                "2024-01-21T00:00:00+00:00",
                "2024-01-22T00:00:00+00:00",
            ],
        ),
        // A plain `*` day of month means AND: Mondays only.
        (
            "0 0 * * MON",
            "2024-01-01T00:00:00Z",
            &["2024-01-08T00:00:00+00:00", "2024-01-15T00:00:00+00:00"],
        ),
        (
            "0 0 ? * 7",
            "2024-01-01T00:00:00Z",
            &["2024-01-07T00:00:00+00:00", "2024-01-14T00:00:00+00:00"],
        ),
        (
            "30 8 * * MON-FRI",
            "2024-01-05T09:00:00Z",
            &["2024-01-08T08:30:00+00:00", "2024-01-09T08:30:00+00:00"],
        ),
        (
            "0 0 1 JAN,jul *",
            "2024-01-01T00:00:00Z",
            &["2024-07-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"],
        ),
        (
            "5/20 * * * *",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-01T00:05:00+00:00",
                "2024-01-01T00:25:00+00:00",
                "2024-01-01T00:45:00+00:00",
                "2024-01-01T01:05:00+00:00",
            ],
        ),
        (
            "1-10/4 * * * *",
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-01T00:01:00+00:00",
                "2024-01-01T00:05:00+00:00",
                "2024-01-01T00:09:00+00:00",
                "2024-01-01T01:01:00+00:00",
            ],
        ),
        (
            "@weekly",
            "2024-01-01T00:00:00Z",
            &["2024-01-07T00:00:00+00:00", "2024-01-14T00:00:00+00:00"],
        ),
        (
            "@monthly",
            "2024-01-15T00:00:00Z",
            &["2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"],
        ),
        (
            "@yearly",
            "2024-06-01T00:00:00Z",
            &["2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"],
        ),
        (
            "@hourly",
            "2024-01-01T10:30:00Z",
            &["2024-01-01T11:00:00+00:00", "2024-01-01T12:00:00+00:00"],
        ),
        (
            "@daily",
            "2024-02-28T00:00:00Z",
            &["2024-02-29T00:00:00+00:00", "2024-03-01T00:00:00+00:00"],
        ),
        // A day that never comes: nothing within five years.
        ("0 0 30 2 *", "2024-01-01T00:00:00Z", &[]),
    ];
    for (spec, start, want) in cases {
        assert_eq!(
            next_times(spec, "UTC", start, want.len().max(1)),
            *want,
            "{spec:?} after {start}"
        );
    }
}

#[test]
fn next_times_across_dst() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        // Berlin springs forward at 02:00 on 2024-03-31: 02:30 does not exist and does not fire.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2024-03-29T12:00:00+01:00",
            &["2024-03-30T02:30:00+01:00", "2024-04-01T02:30:00+02:00"],
        ),
        (
            "*/30 * * * *",
            "Europe/Berlin",
            "2024-03-31T01:15:00+01:00",
            &[
                "2024-03-31T01:30:00+01:00",
                "2024-03-31T03:00:00+02:00",
                "2024-03-31T03:30:00+02:00",
            ],
        ),
        // Berlin falls back at 03:00 on 2024-10-27: 02:30 happens twice and fires once.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2024-10-26T12:00:00+02:00",
            &["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"],
        ),
        // Wildcard hours keep their pace through the repeated hour.
        (
            "*/30 * * * *",
            "Europe/Berlin",
            "2024-10-27T01:45:00+02:00",
            &[
                "2024-10-27T02:00:00+02:00",
                "2024-10-27T02:30:00+02:00",
                "2024-10-27T02:00:00+01:00",
                "2024-10-27T02:30:00+01:00",
                "2024-10-27T03:00:00+01:00",
            ],
        ),
        // New York falls back at 02:00 on 2024-11-03.
        (
            "0 * * * *",
            "America/New_York",
            "2024-11-03T00:30:00-04:00",
            &[
                "2024-11-03T01:00:00-04:00",
                "2024-11-03T01:00:00-05:00",
                "2024-11-03T02:00:00-05:00",
            ],
        ),
        (
            "30 1 * * *",
            "America/New_York",
            "2024-11-02T12:00:00-04:00",
            &["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"],
        ),
        // Starting inside the repeated hour's second pass does not go back to its first.
        (
            "45 1 * * *",
            "America/New_York",
            "2024-11-03T01:50:00-04:00",
            &["2024-11-04T01:45:00-05:00"],
        ),
        // New York springs forward at 02:00 on 2024-03-10.
        (
            "15 2 * * *",
            "America/New_York",
            "2024-03-09T12:00:00-05:00",
            &["2024-03-11T02:15:00-04:00"],
        ),
        // São Paulo once sprang forward at midnight: that midnight never happened.
        (
            "0 0 * * *",
            "America/Sao_Paulo",
            "2018-11-03T12:00:00-03:00",
            &["2018-11-05T00:00:00-02:00"],
        ),
        // A `TZ=` prefix wins over the zone of the start time.
        (
            "TZ=Asia/Tokyo 0 9 * * *",
            "UTC",
            "2024-01-01T00:00:00Z",
            &["2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00"],
        ),
        (
            "0 9 * * *",
            "Asia/Kolkata",
            "2024-01-01T00:00:00Z",
            &["2024-01-01T09:00:00+05:30", "2024-01-02T09:00:00+05:30"],
        ),
    ];
    for (spec, zone, start, want) in cases {
        assert_eq!(
            next_times(spec, zone, start, want.len()),
            *want,
            "{spec:?} in {zone} after {start}"
        );
    }
}

#[test]
fn schedule_exposes_its_prefix_zone() {
    let schedule = Schedule::parse("TZ=Europe/Berlin 0 9 * * *").expect("parses");
    assert_eq!(
        schedule.time_zone().and_then(|tz| tz.iana_name()),
        Some("Europe/Berlin")
    );
    assert!(
        Schedule::parse("0 9 * * *")
            .expect("parses")
            .time_zone()
            .is_none()
    );
}
