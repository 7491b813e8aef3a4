//! Timestamps as the Go SDK writes them into `discovered_at`, `started_at`
//! and `ended_at`: layout `2006-01-02 15:04:05.999999999` (trailing zero
//! digits of the fraction dropped, the dot too), here always in UTC.

use time::{OffsetDateTime, UtcOffset};

pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

pub fn format(instant: OffsetDateTime) -> String {
    let utc = instant.to_offset(UtcOffset::UTC);
    let mut text = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    );
    let nanos = utc.nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn fraction_drops_trailing_zeros_and_the_dot_when_whole() {
        assert_eq!(
            format(datetime!(2026-02-21 14:39:19.123456789 UTC)),
            "2026-02-21 14:39:19.123456789"
        );
        assert_eq!(
            format(datetime!(2026-02-21 14:39:19.5 UTC)),
            "2026-02-21 14:39:19.5"
        );
        assert_eq!(
            format(datetime!(2026-02-21 14:39:19.000120 UTC)),
            "2026-02-21 14:39:19.00012"
        );
        assert_eq!(
            format(datetime!(2026-02-21 14:39:19 UTC)),
            "2026-02-21 14:39:19"
        );
    }

    #[test]
    fn other_offsets_are_written_in_utc() {
        assert_eq!(
            format(datetime!(2026-01-01 01:30:00 +02:00)),
            "2025-12-31 23:30:00"
        );
    }
}
