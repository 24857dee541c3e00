use std::fmt;

/// A point in time, UTC, with microsecond precision (RFC 3161 accuracy is expressed in
/// microseconds). Libraries receive the current time as one of these; they never read the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(i64);

const MICROS: i64 = 1_000_000;

impl UtcTime {
    /// From microseconds since the Unix epoch.
    pub const fn from_unix_micros(us: i64) -> Self {
        Self(us)
    }

    /// From whole seconds since the Unix epoch.
    pub const fn from_unix_seconds(s: i64) -> Self {
        Self(s.saturating_mul(MICROS))
    }

    /// Microseconds since the Unix epoch.
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded towards negative infinity).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(MICROS)
    }

    /// The current time from the system clock. Only binaries call this.
    pub fn now() -> Self {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Self(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => Self(-i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX)),
        }
    }

    /// Adds (or with a negative value subtracts) microseconds, saturating.
    pub const fn add_micros(self, us: i64) -> Self {
        Self(self.0.saturating_add(us))
    }

    /// From a civil UTC date and time; `None` if a field is out of range.
    pub fn from_civil(
        year: i32,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
    ) -> Option<Self> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
            || micros >= 1_000_000
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Some(Self(secs * MICROS + i64::from(micros)))
    }

    /// The civil UTC fields: (year, month, day, hour, minute, second, microsecond).
    pub fn to_civil(self) -> (i32, u8, u8, u8, u8, u8, u32) {
        let secs = self.0.div_euclid(MICROS);
        let micros = self.0.rem_euclid(MICROS) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (
            y,
            m,
            d,
            (sod / 3600) as u8,
            ((sod % 3600) / 60) as u8,
            (sod % 60) as u8,
            micros,
        )
    }

    /// RFC 3339 text, e.g. `2018-02-28T10:00:00Z` (fraction shown only when non-zero).
    pub fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s, us) = self.to_civil();
        if us == 0 {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
        } else {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
        }
    }
}

impl fmt::Display for UtcTime {
    /// `2018-02-28 10:00:00 UTC`: what `verify` prints (NuGet prints local time in the current
    /// culture; signet prints UTC so output is the same on every machine).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, _) = self.to_civil();
        write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian calendar).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        let t = UtcTime::from_civil(2018, 2, 28, 10, 0, 1, 250).unwrap();
        assert_eq!(t.to_civil(), (2018, 2, 28, 10, 0, 1, 250));
        assert_eq!(t.unix_seconds(), 1_519_812_001);
        assert_eq!(
            UtcTime::from_civil(1970, 1, 1, 0, 0, 0, 0)
                .unwrap()
                .unix_micros(),
            0
        );
        assert_eq!(UtcTime::from_civil(2024, 2, 30, 0, 0, 0, 0), None);
        let before = UtcTime::from_civil(1969, 12, 31, 23, 59, 59, 0).unwrap();
        assert_eq!(before.unix_seconds(), -1);
        assert_eq!(before.to_civil(), (1969, 12, 31, 23, 59, 59, 0));
    }

    #[test]
    fn display_forms() {
        let t = UtcTime::from_civil(2026, 11, 22, 8, 5, 9, 0).unwrap();
        assert_eq!(t.to_string(), "2026-11-22 08:05:09 UTC");
        assert_eq!(t.rfc3339(), "2026-11-22T08:05:09Z");
    }
}

/// Where a service reads the time: the one clock trait of the workspace (the server, its
/// timestamp authority and the development PKI's responders). Libraries take the time as an
/// argument; services hold one of these, and tests give them a fixed one.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> UtcTime;
}

/// The system clock (only binaries construct it).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UtcTime {
        UtcTime::now()
    }
}
