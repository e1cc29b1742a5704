//! ISO-8601 times for `--from`/`--to`, to and from milliseconds since the
//! Unix epoch, without a calendar crate: the proleptic Gregorian calendar
//! in UTC is a few lines of integer arithmetic.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads a fixed-width decimal field.
fn field(s: &str, what: &str) -> Result<i64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {what} {s:?}"));
    }
    s.parse().map_err(|e| format!("bad {what} {s:?}: {e}"))
}

/// Milliseconds since the epoch of `YYYY-MM-DD`, or
/// `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z` or `±HH:MM` (UTC when no zone is
/// given; a space may stand for the `T`).
///
/// # Errors
/// A description of the first field that does not parse or is out of range.
pub fn parse_iso8601(s: &str) -> Result<i64, String> {
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the date must be YYYY-MM-DD".to_owned());
    };
    let (year, month, day) = (field(y, "year")?, field(m, "month")?, field(d, "day")?);
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return Err(format!("no such date {date}"));
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let Some(time) = time else { return Ok(ms) };
    let (clock, offset_minutes) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, zone) = (&time[..i], &time[i + 1..]);
        let (h, m) = zone.split_once(':').unwrap_or((zone, "0"));
        let minutes = field(h, "zone hour")? * 60 + field(m, "zone minute")?;
        (
            c,
            if time[i..].starts_with('-') {
                -minutes
            } else {
                minutes
            },
        )
    } else {
        (time, 0)
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut fields = hms.split(':');
    let hour = field(fields.next().unwrap_or(""), "hour")?;
    let minute = field(fields.next().unwrap_or(""), "minute")?;
    let second = fields.next().map_or(Ok(0), |s| field(s, "second"))?;
    if fields.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return Err(format!("bad time of day {clock:?}"));
    }
    let millis = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
        field(&digits, "fraction of a second")?
    };
    ms += ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000 + millis;
    Ok(ms)
}

/// `2026-12-02T10:00:00.000Z` for milliseconds since the epoch.
pub fn format_ms(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (s, millis) = (rest / 1000, rest % 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_read_as_utc_milliseconds() {
        assert_eq!(parse_iso8601("1970-01-01"), Ok(0));
        assert_eq!(parse_iso8601("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_iso8601("2026-12-02T10:00:00Z"), Ok(1_796_205_600_000));
        assert_eq!(
            parse_iso8601("2026-12-02T11:00:00+01:00"),
            Ok(1_796_205_600_000)
        );
        assert_eq!(
            parse_iso8601("2026-12-02 09:30-00:30"),
            Ok(1_796_205_600_000)
        );
        assert_eq!(
            parse_iso8601("2024-02-29T00:00:00.5Z"),
            Ok(1_709_164_800_500)
        );
    }

    #[test]
    fn impossible_dates_and_times_are_refused() {
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-12-02T24:00Z",
            "2026-12",
            "2026-12-02Tnoon",
            "2026-12-02T10:00:00+xx",
        ] {
            assert!(parse_iso8601(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatting_inverts_parsing() {
        for ms in [0, 1_796_205_600_123, 951_782_400_000, -86_400_000] {
            assert_eq!(parse_iso8601(&format_ms(ms)), Ok(ms), "{}", format_ms(ms));
        }
    }
}
