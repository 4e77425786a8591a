//! Wall-clock time as berth stores and writes it: Unix seconds and milliseconds (what the stores
//! keep), and RFC 3339 in UTC (what JSON documents and image configs carry).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 on a clock set before it).
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Milliseconds since the Unix epoch (0 on a clock set before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Now, for schedules (cron expressions are evaluated in UTC).
pub fn now_utc() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// `2026-11-23T21:36:45Z` for Unix seconds.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `2026-11-23T21:36:45.123Z` for Unix milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An instant as people write it, in Unix milliseconds: RFC 3339 (`2026-11-23T21:36:45Z`), a
/// duration ago (`24h`, `7d`, `30m`), or Unix milliseconds.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!(
            "{text:?} is not a time: write RFC 3339 (2026-11-23T21:36:45Z) or a duration ago (24h)"
        )
    })?;
    let ago = i64::try_from(ago.as_millis()).map_err(|_| format!("{text:?} is too long ago"))?;
    Ok(now_ms().saturating_sub(ago))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_469_805), "2026-11-23T21:36:45Z");
        assert_eq!(rfc3339(1_767_323_045), "2026-01-02T03:04:05Z");
        assert_eq!(rfc3339_ms(1_767_323_045_007), "2026-01-02T03:04:05.007Z");
    }

    #[test]
    fn instants_parse_as_rfc3339_durations_ago_or_milliseconds() {
        assert_eq!(parse_instant("2026-01-02T03:04:05Z"), Ok(1_767_323_045_000));
        assert_eq!(parse_instant("1767323045000"), Ok(1_767_323_045_000));
        let ago = now_ms() - parse_instant("24h").unwrap();
        assert!((86_400_000..86_410_000).contains(&ago), "{ago}");
        assert!(parse_instant("yesterday").is_err());
    }
}
