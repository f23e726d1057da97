//! RFC 3339 dates and date-times within inclusive bounds.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use crate::error::Error;

/// Which dates or date-times an argument may hold: RFC 3339 text within `[min, max]`
/// (inclusive; a missing bound is open).
///
/// The bounds decide the kind: both `full-date` (`2026-12-04`), and values must be dates; or
/// both `date-time` with an offset (`2026-12-04T09:00:00Z`, `2026-12-04T10:00:00+01:00`), and
/// values must be date-times, compared as instants (offsets normalised). Anything else is
/// refused: other formats, a lowercase `t` or `z`, a missing offset, out-of-range fields.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DateRange {
    /// The earliest allowed value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// The latest allowed value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Point {
    Date(Date),
    Instant(OffsetDateTime),
}

impl Point {
    fn same_kind(&self, other: &Point) -> bool {
        matches!(
            (self, other),
            (Point::Date(_), Point::Date(_)) | (Point::Instant(_), Point::Instant(_))
        )
    }
}

fn full_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = i32::from(num(0..4)?);
    let month = Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

fn point(s: &str) -> Option<Point> {
    if s.len() > 64 {
        return None;
    }
    if let Some(d) = full_date(s) {
        return Some(Point::Date(d));
    }
    // RFC 3339 allows `t` and `z`; one spelling is enough, and other constraints on the
    // argument compare the text.
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b':' | b'.' | b'+' | b'T' | b'Z'))
    {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339).ok().map(Point::Instant)
}

impl DateRange {
    /// Values within `[min, max]`; either bound may be `None` (open), not both.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when both bounds are open, a bound is not RFC 3339, the bounds
    /// are of different kinds, or `min > max`.
    pub fn new(min: Option<&str>, max: Option<&str>) -> Result<Self, Error> {
        let r = Self {
            min: min.map(str::to_owned),
            max: max.map(str::to_owned),
        };
        r.validate()?;
        Ok(r)
    }

    fn bounds(&self) -> Option<(Option<Point>, Option<Point>)> {
        let parse = |b: &Option<String>| match b {
            Some(s) => point(s).map(Some),
            None => Some(None),
        };
        Some((parse(&self.min)?, parse(&self.max)?))
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = || {
            Error::grant(format!(
                "date range {:?}..={:?}: needs a bound, RFC 3339 dates or date-times of one kind, min <= max",
                self.min, self.max
            ))
        };
        match self.bounds().ok_or_else(bad)? {
            (None, None) => Err(bad()),
            (Some(a), Some(b)) if !a.same_kind(&b) || a > b => Err(bad()),
            _ => Ok(()),
        }
    }

    /// Whether `value` is a date or date-time of the bounds' kind within them.
    pub fn allows(&self, value: &str) -> bool {
        let (Some(v), Some((min, max))) = (point(value), self.bounds()) else {
            return false;
        };
        let within_min = min.is_none_or(|m| m.same_kind(&v) && m <= v);
        let within_max = max.is_none_or(|m| m.same_kind(&v) && v <= m);
        within_min && within_max && (min.is_some() || max.is_some())
    }

    pub(crate) fn is_subset_of(&self, parent: &DateRange) -> bool {
        let (Some((a, b)), Some((c, d))) = (self.bounds(), parent.bounds()) else {
            return false;
        };
        let kind = a.or(b);
        let same = |p: Option<Point>| match (p, kind) {
            (Some(p), Some(k)) => p.same_kind(&k),
            _ => true,
        };
        let lower = match (a, c) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(c)) => c <= a,
        };
        let upper = match (b, d) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(b), Some(d)) => b <= d,
        };
        same(c) && same(d) && lower && upper
    }
}
