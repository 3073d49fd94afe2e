//! Times and versions as `mqadmin` prints and reads them.
//!
//! Java prints and parses times in the JVM's local zone. Bolide has no time-zone database
//! (no dependency for it), so every time here is **UTC**; the help text of each command
//! that reads a date says so. Dates use Java's patterns: `yyyy-MM-dd HH:mm:ss,SSS`
//! (`UtilAll.timeMillisToHumanString2`), `yyyy-MM-dd HH:mm:ss`, and for input
//! `yyyy-MM-dd#HH:mm:ss:SSS` (`UtilAll.YYYY_MM_DD_HH_MM_SS_SSS`).

const MS_PER_DAY: i64 = 86_400_000;

/// The `timestamp` of INVOKE_BROKER_TO_RESET_OFFSET meaning "the end of each queue".
pub const RESET_TO_NOW: i64 = -1;

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01 (`days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
}

fn parts(ms: i64) -> Parts {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: in_day / 3_600_000,
        minute: in_day / 60_000 % 60,
        second: in_day / 1000 % 60,
        milli: in_day % 1000,
    }
}

/// `yyyy-MM-dd HH:mm:ss,SSS` in UTC.
pub fn format_millis(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.milli
    )
}

/// `yyyy-MM-dd HH:mm:ss` in UTC.
pub fn format_seconds(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// `resetOffsetByTime -s`: `now` (the end of each queue, [`RESET_TO_NOW`]), milliseconds
/// since the epoch, or `yyyy-MM-dd#HH:mm:ss:SSS` in UTC.
pub fn parse_reset_timestamp(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(RESET_TO_NOW);
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    parse_date(text).ok_or_else(|| {
        format!("timestamp {text:?} is neither now, milliseconds, nor yyyy-MM-dd#HH:mm:ss:SSS")
    })
}

/// `yyyy-MM-dd#HH:mm:ss:SSS` (UTC) → milliseconds since the epoch; `None` if malformed or
/// out of range.
pub fn parse_date(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('#')?;
    let mut date = date.split('-');
    let year: i64 = number(date.next()?, 4)?;
    let month: u32 = number(date.next()?, 2)?;
    let day: u32 = number(date.next()?, 2)?;
    let mut time = time.split(':');
    let hour: i64 = number(time.next()?, 2)?;
    let minute: i64 = number(time.next()?, 2)?;
    let second: i64 = number(time.next()?, 2)?;
    let milli: i64 = number(time.next()?, 3)?;
    if date.next().is_some() || time.next().is_some() {
        return None;
    }
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..60).contains(&second);
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + milli)
}

/// A field of exactly `width` ASCII digits.
fn number<T: std::str::FromStr>(text: &str, width: usize) -> Option<T> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Java's `MQVersion.getVersionDesc`: the name of a version ordinal (`407` → `V4_9_7`).
///
/// The enum runs: 16 early 3.0.0 names; then a `_SNAPSHOT` and a release per version from
/// 3.0.1 to 3.0.15, 3.1.0 to 3.2.9, 3.3.1 to 3.9.9 (no x.y.0 there), and 4.0.0 to 5.9.9;
/// then `HIGHER_VERSION`, which ordinals past the end also map to.
pub fn version_desc(ordinal: i32) -> String {
    const EARLY: [&str; 16] = [
        "V3_0_0_SNAPSHOT",
        "V3_0_0_ALPHA1",
        "V3_0_0_BETA1",
        "V3_0_0_BETA2",
        "V3_0_0_BETA3",
        "V3_0_0_BETA4",
        "V3_0_0_BETA5",
        "V3_0_0_BETA6_SNAPSHOT",
        "V3_0_0_BETA6",
        "V3_0_0_BETA7_SNAPSHOT",
        "V3_0_0_BETA7",
        "V3_0_0_BETA8_SNAPSHOT",
        "V3_0_0_BETA8",
        "V3_0_0_BETA9_SNAPSHOT",
        "V3_0_0_BETA9",
        "V3_0_0_FINAL",
    ];
    let Ok(index) = usize::try_from(ordinal) else {
        return EARLY[0].to_owned();
    };
    if let Some(name) = EARLY.get(index) {
        return (*name).to_owned();
    }
    let pair = (index - EARLY.len()) / 2;
    let snapshot = if (index - EARLY.len()).is_multiple_of(2) {
        "_SNAPSHOT"
    } else {
        ""
    };
    let (major, minor, patch) = match pair {
        0..15 => (3, 0, pair + 1),
        15..35 => (3, 1 + (pair - 15) / 10, (pair - 15) % 10),
        35..98 => (3, 3 + (pair - 35) / 9, 1 + (pair - 35) % 9),
        98..298 => (
            4 + (pair - 98) / 100,
            (pair - 98) / 10 % 10,
            (pair - 98) % 10,
        ),
        _ => return "HIGHER_VERSION".to_owned(),
    };
    format!("V{major}_{minor}_{patch}{snapshot}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_format_as_java_patterns_in_utc() {
        assert_eq!(format_millis(0), "1970-01-01 00:00:00,000");
        // 2023-11-14 22:13:20.123 UTC
        assert_eq!(format_millis(1_700_000_000_123), "2023-11-14 22:13:20,123");
        assert_eq!(format_seconds(1_700_000_000_123), "2023-11-14 22:13:20");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29 00:00:00,000");
    }

    #[test]
    fn reset_timestamps_accept_now_millis_and_dates() {
        assert_eq!(parse_reset_timestamp("now"), Ok(RESET_TO_NOW));
        assert_eq!(
            parse_reset_timestamp("1700000000123"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            parse_reset_timestamp("2023-11-14#22:13:20:123"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            parse_reset_timestamp("2000-02-29#00:00:00:000"),
            Ok(951_782_400_000)
        );
        for bad in [
            "2023-11-14 22:13:20:123",
            "2023-13-01#00:00:00:000",
            "2023-02-29#00:00:00:000",
            "2023-11-14#24:00:00:000",
            "2023-11-14#22:13:20",
            "2023-1-14#22:13:20:123",
            "yesterday",
        ] {
            assert!(parse_reset_timestamp(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn dates_round_trip_through_days() {
        for ms in [0, 86_399_999, 1_700_000_000_123, 4_102_444_800_000] {
            let p = parts(ms);
            let text = format!(
                "{:04}-{:02}-{:02}#{:02}:{:02}:{:02}:{:03}",
                p.year, p.month, p.day, p.hour, p.minute, p.second, p.milli
            );
            assert_eq!(parse_date(&text), Some(ms), "{text}");
        }
    }

    #[test]
    fn version_ordinals_name_java_versions() {
        for (ordinal, name) in [
            (0, "V3_0_0_SNAPSHOT"),
            (15, "V3_0_0_FINAL"),
            (16, "V3_0_1_SNAPSHOT"),
            (37, "V3_0_11"),
            (45, "V3_0_15"),
            (46, "V3_1_0_SNAPSHOT"),
            (85, "V3_2_9"),
            (87, "V3_3_1"),
            (121, "V3_4_9"),
            (199, "V3_9_3"),
            (211, "V3_9_9"),
            (212, "V4_0_0_SNAPSHOT"),
            (213, "V4_0_0"),
            (232, "V4_1_0_SNAPSHOT"),
            (313, "V4_5_0"),
            (333, "V4_6_0"),
            (401, "V4_9_4"),
            (407, "V4_9_7"),
            (413, "V5_0_0"),
            (611, "V5_9_9"),
            (612, "HIGHER_VERSION"),
            (9999, "HIGHER_VERSION"),
        ] {
            assert_eq!(version_desc(ordinal), name, "ordinal {ordinal}");
        }
    }
}
