//! The `date` filter: reads unix seconds (`event.timestamp`, whole numbers), `"now"`, and the date strings events
//! carry (ISO 8601 like `2024-02-21T23:45:15.228Z`, `1990-05-01`, `2024-02-21 23:45:15 +0100`,
//! RFC 2822, `March 14, 2016`), and writes them with Ruby's `strftime`. A time without a zone is
//! UTC. An input it cannot read as a date is written unchanged, as in Shopify's Liquid.

use std::borrow::Cow;
use std::fmt::Write;

use super::Data;

/// A moment and the offset it is shown in.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Moment {
    /// Seconds since the Unix epoch.
    secs: i64,
    nanos: u32,
    /// Seconds east of UTC.
    offset: i32,
    /// Whether the zone is UTC by name (`%Z` prints `UTC`; a numeric offset has no name).
    utc: bool,
}

/// Without a format, what LiquidJS writes: `Wednesday, February 21, 2024 at 11:45 pm +0000`.
const DEFAULT_FORMAT: &str = "%A, %B %-e, %Y at %-l:%M %P %z";

/// Applies `date: format` to `input`.
pub fn filter<'a>(input: Cow<'a, Data>, format: Option<&str>) -> Cow<'a, Data> {
    let format = format.unwrap_or(DEFAULT_FORMAT);
    if format.is_empty() {
        return input;
    }
    match read(&input) {
        Some(moment) => Cow::Owned(Data::Str(strftime(&moment, format))),
        None => input,
    }
}

/// The widest moment read, in seconds either side of 1970 (about 300,000 years): beyond, a number
/// is not read as a date.
const MAX_SECS: i64 = 10_000_000_000_000;

/// The widest field `strftime` pads to (`%10d`), so that a format cannot ask for gigabytes.
const MAX_WIDTH: usize = 100;

fn read(input: &Data) -> Option<Moment> {
    read_any(input).filter(|m| m.secs.unsigned_abs() <= MAX_SECS as u64)
}

fn read_any(input: &Data) -> Option<Moment> {
    let at = |secs: i64, nanos: u32| Moment {
        secs,
        nanos,
        offset: 0,
        utc: true,
    };
    match input {
        // A float is not a time to Ruby's Liquid: written unchanged.
        Data::Int(i) => Some(at(*i, 0)),
        Data::Str(s) => {
            let t = s.trim();
            match t.to_ascii_lowercase().as_str() {
                "" => None,
                "now" | "today" => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    Some(at(now.as_secs() as i64, now.subsec_nanos()))
                }
                _ if t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok().map(|s| at(s, 0)),
                _ => parse(t),
            }
        }
        _ => None,
    }
}

// ---- calendar ----

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

// ---- parsing ----

/// Reads a date string; `None` when it is not one.
fn parse(s: &str) -> Option<Moment> {
    let mut p = Reader {
        s: s.as_bytes(),
        at: 0,
    };
    // A weekday name in front (RFC 2822 `Tue, 21 Feb 2024 …`) says nothing the date does not.
    if p.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
        let save = p.at;
        let word = p.word();
        if DAYS.iter().any(|d| prefix_of(d, &word)) {
            p.skip(b",");
            p.spaces();
        } else {
            p.at = save;
        }
    }
    let (year, month, day) = p.date()?;
    if year > 9999 {
        return None;
    }
    if month == 0 || month > 12 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    let mut nanos = 0;
    p.skip(b"T");
    p.spaces();
    if p.peek().is_some_and(|b| b.is_ascii_digit()) {
        let (h, m, sec, n) = p.time()?;
        if h > 24 || m > 59 || sec > 60 {
            return None;
        }
        secs += i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec);
        nanos = n;
        p.spaces();
        if let Some(word) = p.peek().filter(u8::is_ascii_alphabetic).map(|_| p.word()) {
            match word.to_ascii_lowercase().as_str() {
                "am" if h == 12 => secs -= 12 * 3600,
                "pm" if h < 12 => secs += 12 * 3600,
                "am" | "pm" => {}
                _ => p.at -= word.len(),
            }
            p.spaces();
        }
    }
    let (offset, utc) = p.zone()?;
    p.spaces();
    if p.at != p.s.len() {
        return None;
    }
    secs -= i64::from(offset);
    Some(Moment {
        secs,
        nanos,
        offset,
        utc,
    })
}

fn prefix_of(name: &str, word: &str) -> bool {
    word.len() >= 3 && name.len() >= word.len() && name[..word.len()].eq_ignore_ascii_case(word)
}

fn month_named(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| prefix_of(m, word.trim_end_matches('.')))
        .map(|i| i as u32 + 1)
}

struct Reader<'s> {
    s: &'s [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn skip(&mut self, set: &[u8]) -> bool {
        if self.peek().is_some_and(|b| set.contains(&b)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn spaces(&mut self) {
        while self.skip(b" \t") {}
    }

    fn word(&mut self) -> String {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'.')
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.at]).into_owned()
    }

    fn number(&mut self, max_digits: usize) -> Option<(u32, usize)> {
        let start = self.at;
        while self.at - start < max_digits && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = std::str::from_utf8(&self.s[start..self.at]).ok()?;
        Some((digits.parse().ok()?, self.at - start))
    }

    /// `2024-02-21`, `2024/02/21`, `21 Feb 2024`, `Feb 21, 2024`, `February 21 2024`.
    fn date(&mut self) -> Option<(i64, u32, u32)> {
        if self.peek()?.is_ascii_alphabetic() {
            let month = month_named(&self.word())?;
            self.spaces();
            let (day, _) = self.number(2)?;
            self.skip(b",");
            self.spaces();
            let (year, _) = self.number(4)?;
            return Some((i64::from(year), month, day));
        }
        let (first, digits) = self.number(4)?;
        if digits == 4 && self.skip(b"-/") {
            let (month, _) = self.number(2)?;
            if !self.skip(b"-/") {
                return None;
            }
            let (day, _) = self.number(2)?;
            return Some((i64::from(first), month, day));
        }
        self.spaces();
        let month = month_named(&self.word())?;
        self.skip(b",");
        self.spaces();
        let (year, _) = self.number(4)?;
        Some((i64::from(year), month, first))
    }

    /// `23:45`, `23:45:15`, `23:45:15.228`.
    fn time(&mut self) -> Option<(u32, u32, u32, u32)> {
        let (h, _) = self.number(2)?;
        if !self.skip(b":") {
            return None;
        }
        let (m, _) = self.number(2)?;
        let mut sec = 0;
        let mut nanos = 0;
        if self.skip(b":") {
            sec = self.number(2)?.0;
            if self.skip(b".,") {
                let (frac, digits) = self.number(9)?;
                nanos = frac * 10u32.pow(9 - digits as u32);
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.at += 1;
                }
            }
        }
        Some((h, m, sec, nanos))
    }

    /// `Z`, `UTC`, `GMT`, `+01:00`, `-0500`, or nothing (UTC).
    fn zone(&mut self) -> Option<(i32, bool)> {
        match self.peek() {
            None => Some((0, true)),
            Some(b'Z' | b'z') => {
                self.at += 1;
                Some((0, true))
            }
            Some(b'+' | b'-') => {
                let sign = if self.s[self.at] == b'-' { -1 } else { 1 };
                self.at += 1;
                let (h, digits) = self.number(2)?;
                if digits != 2 {
                    return None;
                }
                self.skip(b":");
                let m = self.number(2).map_or(0, |(m, _)| m);
                Some((sign * (h as i32 * 3600 + m as i32 * 60), false))
            }
            Some(b) if b.is_ascii_alphabetic() => match self.word().to_ascii_uppercase().as_str() {
                "UTC" | "GMT" | "UT" => Some((0, true)),
                _ => None,
            },
            Some(_) => None,
        }
    }
}

// ---- formatting ----

/// The ISO 8601 week-numbering year and week of a day (`yday` from 1, `weekday` 0 for Sunday).
fn iso_week(year: i64, yday: i64, weekday: usize) -> (i64, i64) {
    let iso_weekday = if weekday == 0 { 7 } else { weekday as i64 };
    let week = (yday - iso_weekday + 10) / 7;
    let weeks_in = |y: i64| {
        // 53 weeks when the year starts on a Thursday, or a leap year starts on a Wednesday.
        let jan1 = (days_from_civil(y, 1, 1) + 4).rem_euclid(7);
        if jan1 == 4 || (is_leap(y) && jan1 == 3) {
            53
        } else {
            52
        }
    };
    if week < 1 {
        (year - 1, weeks_in(year - 1))
    } else if week > weeks_in(year) {
        (year + 1, 1)
    } else {
        (year, week)
    }
}

/// Ruby's `Time#strftime`, with its flags (`-` no padding, `_` spaces, `0` zeros, `^` upper case)
/// and widths.
fn strftime(m: &Moment, format: &str) -> String {
    let local = m.secs + i64::from(m.offset);
    let days = local.div_euclid(86_400);
    let secs_of_day = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let weekday = (days + 4).rem_euclid(7) as usize;
    let yday = days - days_from_civil(year, 1, 1) + 1;
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut pad: Option<char> = None;
        let mut upper = false;
        let mut colons = 0;
        loop {
            match chars.peek() {
                Some('-') => pad = Some('\0'),
                Some('_') => pad = Some(' '),
                Some('0') => pad = Some('0'),
                Some('^') | Some('#') => upper = true,
                Some(':') => colons += 1,
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(*d);
            chars.next();
        }
        let width: Option<usize> = width.parse().ok().map(|w: usize| w.min(MAX_WIDTH));
        let Some(directive) = chars.next() else {
            out.push('%');
            break;
        };
        let num = |n: i64, w: usize, default_pad: char| -> String {
            let w = width.unwrap_or(w);
            match pad.unwrap_or(default_pad) {
                '\0' => n.to_string(),
                ' ' => format!("{n:>w$}"),
                _ => {
                    if n < 0 {
                        format!("-{:0>w$}", -n, w = w.saturating_sub(1))
                    } else {
                        format!("{n:0>w$}")
                    }
                }
            }
        };
        let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
        let text: String = match directive {
            'Y' => num(year, 1, '0'),
            'C' => num(year.div_euclid(100), 2, '0'),
            'y' => num(year.rem_euclid(100), 2, '0'),
            'm' => num(i64::from(month), 2, '0'),
            'B' => MONTHS[month as usize - 1].to_owned(),
            'b' | 'h' => MONTHS[month as usize - 1][..3].to_owned(),
            'd' => num(i64::from(day), 2, '0'),
            'e' => num(i64::from(day), 2, ' '),
            'j' => num(yday, 3, '0'),
            'H' => num(hour, 2, '0'),
            'k' => num(hour, 2, ' '),
            'I' => num(hour12, 2, '0'),
            'l' => num(hour12, 2, ' '),
            'P' => (if hour < 12 { "am" } else { "pm" }).to_owned(),
            'p' => (if hour < 12 { "AM" } else { "PM" }).to_owned(),
            'M' => num(minute, 2, '0'),
            'S' => num(second, 2, '0'),
            'L' => format!("{:03}", m.nanos / 1_000_000),
            'N' => {
                let digits = width.unwrap_or(9).min(9);
                format!("{:09}", m.nanos)[..digits].to_owned()
            }
            'z' => {
                let sign = if m.offset < 0 { '-' } else { '+' };
                let (h, mm) = (m.offset.abs() / 3600, m.offset.abs() / 60 % 60);
                if colons >= 1 {
                    format!("{sign}{h:02}:{mm:02}")
                } else {
                    format!("{sign}{h:02}{mm:02}")
                }
            }
            'Z' => (if m.utc { "UTC" } else { "" }).to_owned(),
            'A' => DAYS[weekday].to_owned(),
            'a' => DAYS[weekday][..3].to_owned(),
            'u' => num(if weekday == 0 { 7 } else { weekday as i64 }, 1, '0'),
            'w' => num(weekday as i64, 1, '0'),
            'V' => num(iso_week(year, yday, weekday).1, 2, '0'),
            'G' => num(iso_week(year, yday, weekday).0, 1, '0'),
            'g' => num(iso_week(year, yday, weekday).0.rem_euclid(100), 2, '0'),
            'U' => num((yday + 6 - weekday as i64) / 7, 2, '0'),
            'W' => num((yday + 6 - ((weekday as i64 + 6) % 7)) / 7, 2, '0'),
            's' => m.secs.to_string(),
            'D' | 'x' => strftime(m, "%m/%d/%y"),
            'F' => strftime(m, "%Y-%m-%d"),
            'T' | 'X' => strftime(m, "%H:%M:%S"),
            'R' => strftime(m, "%H:%M"),
            'r' => strftime(m, "%I:%M:%S %p"),
            'c' => strftime(m, "%a %b %e %H:%M:%S %Y"),
            'n' => "\n".to_owned(),
            't' => "\t".to_owned(),
            '%' => "%".to_owned(),
            other => {
                let _ = write!(out, "%{other}");
                continue;
            }
        };
        let text = match (directive, width) {
            ('B' | 'b' | 'h' | 'A' | 'a' | 'p' | 'P' | 'Z', Some(w))
                if text.chars().count() < w =>
            {
                format!("{text:>w$}")
            }
            _ => text,
        };
        if upper {
            out.push_str(&text.to_uppercase());
        } else {
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(input: Data, format: &str) -> String {
        filter(Cow::Owned(input), Some(format)).to_text()
    }

    #[test]
    fn reads_the_forms_events_carry() {
        let s = |t: &str| Data::string(t);
        assert_eq!(date(s("1990-05-01"), "%B %-d"), "May 1");
        assert_eq!(
            date(s("2024-02-21T23:45:15.228Z"), "%F %T.%L %Z"),
            "2024-02-21 23:45:15.228 UTC"
        );
        assert_eq!(
            date(s("2024-02-21T23:45:15+01:00"), "%H:%M %z %:z"),
            "23:45 +0100 +01:00"
        );
        assert_eq!(
            date(s("Tue, 21 Feb 2024 23:45:15 +0000"), "%a %e %b"),
            "Wed 21 Feb"
        );
        assert_eq!(date(s("March 14, 2016"), "%A %j"), "Monday 074");
        assert_eq!(date(Data::Int(1_708_559_115), "%s %Y"), "1708559115 2024");
        assert_eq!(date(s("not a date"), "%Y"), "not a date");
        assert_eq!(date(s("2024-02-30"), "%Y"), "2024-02-30");
    }

    #[test]
    fn formats_like_ruby() {
        let m = parse("2024-03-05 07:08:09").unwrap();
        assert_eq!(
            strftime(&m, "%-m/%-d %l %I %p %P %y %^b %e|%3N"),
            "3/5  7 07 AM am 24 MAR  5|000"
        );
        assert_eq!(strftime(&m, "%U %W %u %w %%"), "09 10 2 2 %");
        // ISO weeks: 2021-01-01 is in week 53 of 2020; 2024-12-30 in week 1 of 2025.
        let iso = |t: &str| strftime(&parse(t).unwrap(), "%G-%V %g");
        assert_eq!(iso("2021-01-01"), "2020-53 20");
        assert_eq!(iso("2024-12-30"), "2025-01 25");
        assert_eq!(iso("2024-03-05"), "2024-10 24");
        assert_eq!(civil_from_days(days_from_civil(1600, 2, 29)), (1600, 2, 29));
    }
}
