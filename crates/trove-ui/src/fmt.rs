//! Human formatting: sizes in binary units, unix-millis times as UTC, durations. Numbers are
//! taken by value or by reference (`impl Borrow`), as templates hand them over either way.

use std::borrow::Borrow;

/// `0 B`, `512 B`, `1.5 KiB`, `23.0 MiB`, `1.20 GiB`: three significant digits at most.
pub fn bytes(n: impl Borrow<u64>) -> String {
    let n = *n.borrow();
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    let digits = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// [`bytes`] of a signed count (database sums); negatives show as `0 B`.
pub fn bytes_i64(n: impl Borrow<i64>) -> String {
    bytes((*n.borrow()).max(0) as u64)
}

/// Unix millis as `2026-11-24 11:35:54 UTC`.
pub fn time(unix_millis: impl Borrow<i64>) -> String {
    let secs = unix_millis.borrow().div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// [`time`] of an optional time; `never` when absent.
pub fn time_or_never(unix_millis: impl Borrow<Option<i64>>) -> String {
    (*unix_millis.borrow())
        .map(time)
        .unwrap_or_else(|| "never".into())
}

/// Unix minute (minutes since the epoch) as `HH:MM` UTC.
pub fn minute_of_day(unix_minute: impl Borrow<u64>) -> String {
    let m = unix_minute.borrow() % (24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// `0 s`, `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`: the two largest units.
pub fn duration(secs: impl Borrow<u64>) -> String {
    let secs = *secs.borrow();
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) if m == 0 => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        _ if h == 0 => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// `sha256:0123456789ab…`: a digest shortened to 12 hex digits for tables (the full one stays
/// in links and titles).
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) if hex.len() > 12 => format!("{algo}:{}…", &hex[..12]),
        _ => digest.to_owned(),
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.00 KiB");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(23 * 1024 * 1024 + 1), "23.0 MiB");
        assert_eq!(bytes(300 * 1024 * 1024), "300 MiB");
        assert_eq!(bytes(5 << 30), "5.00 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(bytes_i64(-5), "0 B");
    }

    #[test]
    fn times() {
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 12:34:56 UTC: a leap day.
        assert_eq!(time(951_827_696_000), "2000-02-29 12:34:56 UTC");
        assert_eq!(time(1_798_200_000_123), "2026-12-25 12:00:00 UTC");
        assert_eq!(time(-1000), "1969-12-31 23:59:59 UTC");
        assert_eq!(time_or_never(None), "never");
        assert_eq!(minute_of_day(29_925_335), "11:35");
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(short_digest(&d), "sha256:abababababab…");
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
        assert_eq!(short_digest("latest"), "latest");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(120), "2 min");
        assert_eq!(duration(200), "3 min 20 s");
        assert_eq!(duration(7200), "2 h");
        assert_eq!(duration(7500), "2 h 5 min");
        assert_eq!(duration(86_400 * 3 + 3600 * 4 + 5), "3 d 4 h");
        assert_eq!(duration(86_400), "1 d");
    }
}
