//! Checks and normalisation for values with a national format: the resident
//! ID-card number (GB 11643-1999), phone numbers, dates and times, SHA-256
//! digests.
//!
//! These functions only look at the text; whether a birth date lies in the
//! future depends on today's date, which the caller owns.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat};

use crate::error::Reason;

/// Weights of the 17 digits in the GB 11643 check (2^(17-i) mod 11).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check characters indexed by the weighted sum mod 11.
const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
/// Province-level region codes (the first two digits), GB/T 2260.
const PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54,
    61, 62, 63, 64, 65, 71, 81, 82,
];

/// What an 18-digit resident ID-card number says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdNumber {
    /// The number, with a lowercase `x` made uppercase.
    pub normalized: String,
    pub birth_date: NaiveDate,
    /// The 17th digit: odd for men, even for women.
    pub male: bool,
}

/// The GB 11643 check character for the first 17 digits.
pub fn id_check_char(first17: &[u8; 17]) -> char {
    let sum: u32 = first17.iter().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    ID_CHECK[(sum % 11) as usize]
}

/// Checks an 18-digit resident ID-card number: format, province, birth date
/// and the GB 11643 check character.
pub fn parse_id_number(text: &str) -> Result<IdNumber, Reason> {
    let normalized = text.trim().to_ascii_uppercase();
    let bytes = normalized.as_bytes();
    if bytes.len() != 18
        || !bytes[..17].iter().all(u8::is_ascii_digit)
        || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
    {
        return Err(Reason::IdNumberFormat);
    }
    let digits = |range: std::ops::Range<usize>| -> u32 {
        bytes[range].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    };
    if !PROVINCES.contains(&digits(0..2)) {
        return Err(Reason::IdNumberRegion);
    }
    let birth_date = NaiveDate::from_ymd_opt(digits(6..10) as i32, digits(10..12), digits(12..14))
        .filter(|d| d.year_ce().1 >= 1850)
        .ok_or(Reason::IdNumberBirthDate)?;
    let first17: &[u8; 17] = bytes[..17].try_into().expect("length checked above");
    let expected = id_check_char(first17);
    let found = bytes[17] as char;
    if expected != found {
        return Err(Reason::IdNumberChecksum { expected, found });
    }
    Ok(IdNumber { male: digits(16..17) % 2 == 1, normalized, birth_date })
}

/// Checks a Chinese phone number and returns it in a canonical form:
/// mobiles as 11 digits (`13812345678`, a `+86`/`86` prefix and spaces or
/// dashes removed), landlines as `AREA-NUMBER` (`0571-88001234`), with an
/// optional `-EXT` extension.
pub fn normalize_phone(text: &str) -> Result<String, Reason> {
    let trimmed = text.trim();
    let without_country = trimmed
        .strip_prefix("+86")
        .or_else(|| trimmed.strip_prefix("0086"))
        .unwrap_or(trimmed)
        .trim_start_matches([' ', '-']);
    if !without_country.chars().all(|c| c.is_ascii_digit() || c == ' ' || c == '-') {
        return Err(Reason::Phone);
    }
    let digits: String = without_country.chars().filter(char::is_ascii_digit).collect();
    // Mobile: 1[3-9] followed by 9 digits.
    if digits.len() == 11 && digits.starts_with('1') && matches!(digits.as_bytes()[1], b'3'..=b'9') {
        return Ok(digits);
    }
    // Landline: an area code starting with 0 (3 or 4 digits), a 7 or 8 digit
    // number not starting with 0 or 1, and an optional extension. Written
    // with separators, the groups are explicit; without, 010/02x area codes
    // are 3 digits and the rest 4.
    let groups: Vec<&str> = without_country.split(['-', ' ']).filter(|g| !g.is_empty()).collect();
    let (area, number, ext) = match groups.as_slice() {
        [area, number] => (*area, *number, None),
        [area, number, ext] => (*area, *number, Some(*ext)),
        [all] if all.starts_with('0') => {
            let area_len = if all.starts_with("01") || all.starts_with("02") { 3 } else { 4 };
            if all.len() <= area_len {
                return Err(Reason::Phone);
            }
            (&all[..area_len], &all[area_len..], None)
        }
        _ => return Err(Reason::Phone),
    };
    let area_ok = area.starts_with('0') && (3..=4).contains(&area.len());
    let number_ok = (7..=8).contains(&number.len()) && !number.starts_with(['0', '1']);
    let ext_ok = ext.is_none_or(|e| (1..=6).contains(&e.len()));
    if area_ok && number_ok && ext_ok {
        Ok(match ext {
            Some(ext) => format!("{area}-{number}-{ext}"),
            None => format!("{area}-{number}"),
        })
    } else {
        Err(Reason::Phone)
    }
}

/// Parses a calendar date, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, Reason> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| Reason::Date)
}

/// Parses an RFC 3339 date and time with an explicit offset and returns it
/// normalised (seconds precision kept as written, offset kept): the worker's
/// local time is part of what was recorded.
pub fn parse_date_time(text: &str) -> Result<(DateTime<FixedOffset>, String), Reason> {
    let parsed = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| Reason::DateTime)?;
    Ok((parsed, parsed.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
}

/// Checks a SHA-256 digest written as 64 lowercase hex digits.
pub fn check_sha256(text: &str) -> Result<(), Reason> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(Reason::Sha256)
    }
}

/// Builds a valid ID-card number for a region, birth date and sequence
/// (3 digits; odd for men). Used by demo data and tests.
pub fn make_id_number(region: u32, birth: NaiveDate, sequence: u32) -> String {
    let first17 =
        format!("{region:06}{:04}{:02}{:02}{:03}", birth.year(), birth.month(), birth.day(), sequence % 1000);
    let bytes: &[u8; 17] = first17.as_bytes().try_into().expect("17 digits");
    format!("{first17}{}", id_check_char(bytes))
}

/// The geometry of a boundary as kept: the `geometry` of a GeoJSON
/// `Feature`, or the value itself (`None` for a Feature without one).
pub fn boundary_geometry(json: &serde_json::Value) -> Option<&serde_json::Value> {
    match json.get("type").and_then(serde_json::Value::as_str) {
        Some("Feature") => json.get("geometry"),
        _ => Some(json),
    }
}

/// Checks a grid's boundary: a GeoJSON `Polygon` or `MultiPolygon`, or a
/// `Feature` whose geometry is one, each ring closed and of at least four
/// positions, each position `[longitude, latitude]` in WGS-84 degrees.
pub fn check_boundary(text: &str) -> Result<(), Reason> {
    use serde_json::Value as Json;
    let json: Json = serde_json::from_str(text).map_err(|_| Reason::NotABoundary)?;
    let geometry = boundary_geometry(&json).ok_or(Reason::NotABoundary)?;
    let ring = |ring: &Json| -> Option<()> {
        let positions = ring.as_array()?;
        let mut points = Vec::with_capacity(positions.len());
        for position in positions {
            let pair = position.as_array()?;
            let (lon, lat) = (pair.first()?.as_f64()?, pair.get(1)?.as_f64()?);
            ((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)).then_some(())?;
            points.push((lon, lat));
        }
        (points.len() >= 4 && points.first() == points.last()).then_some(())
    };
    let polygon = |polygon: &Json| -> Option<()> {
        let rings = polygon.as_array()?;
        (!rings.is_empty()).then_some(())?;
        rings.iter().try_for_each(ring)
    };
    let coordinates = geometry.get("coordinates").ok_or(Reason::NotABoundary)?;
    let fine = match geometry.get("type").and_then(Json::as_str) {
        Some("Polygon") => polygon(coordinates),
        Some("MultiPolygon") => coordinates
            .as_array()
            .filter(|polygons| !polygons.is_empty())
            .and_then(|polygons| polygons.iter().try_for_each(polygon)),
        _ => None,
    };
    fine.ok_or(Reason::NotABoundary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_known_good_id_number_passes() {
        // The example number printed in GB 11643-1999 itself.
        let id = parse_id_number("11010519491231002X").unwrap();
        assert_eq!(id.birth_date, NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert!(!id.male);
        let lower = parse_id_number("11010519491231002x").unwrap();
        assert_eq!(lower.normalized, "11010519491231002X");
    }

    #[test]
    fn id_numbers_are_refused_for_each_kind_of_mistake() {
        assert_eq!(parse_id_number("1101051949123100"), Err(Reason::IdNumberFormat));
        assert_eq!(parse_id_number("11010519491231002Y"), Err(Reason::IdNumberFormat));
        assert_eq!(parse_id_number("99010519491231002X"), Err(Reason::IdNumberRegion));
        assert_eq!(parse_id_number("110105194902300021"), Err(Reason::IdNumberBirthDate));
        assert_eq!(
            parse_id_number("110105194912310021"),
            Err(Reason::IdNumberChecksum { expected: 'X', found: '1' })
        );
    }

    #[test]
    fn phones_are_normalised() {
        assert_eq!(normalize_phone("138 1234 5678").unwrap(), "13812345678");
        assert_eq!(normalize_phone("+86 138-1234-5678").unwrap(), "13812345678");
        assert_eq!(normalize_phone("0571-88001234").unwrap(), "0571-88001234");
        assert_eq!(normalize_phone("057188001234").unwrap(), "0571-88001234");
        assert_eq!(normalize_phone("01088001234").unwrap(), "010-88001234");
        assert_eq!(normalize_phone("0571-88001234-123").unwrap(), "0571-88001234-123");
        for bad in ["12345", "12812345678", "1381234567", "abc", "0571-0800123", ""] {
            assert_eq!(normalize_phone(bad), Err(Reason::Phone), "{bad}");
        }
    }

    #[test]
    fn date_times_keep_their_offset() {
        let (_, text) = parse_date_time("2024-05-01T08:30:00+08:00").unwrap();
        assert_eq!(text, "2024-05-01T08:30:00+08:00");
        assert_eq!(parse_date_time("2024-05-01 08:30"), Err(Reason::DateTime));
        assert_eq!(parse_date("2024-02-30"), Err(Reason::Date));
    }

    proptest! {
        #[test]
        fn made_id_numbers_parse_back(
            region in prop::sample::select(vec![110105u32, 330702, 441300, 650102]),
            days in 0i64..60_000,
            seq in 0u32..1000,
        ) {
            let birth = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Days::new(days as u64);
            let text = make_id_number(region, birth, seq);
            let parsed = parse_id_number(&text).unwrap();
            prop_assert_eq!(parsed.birth_date, birth);
            prop_assert_eq!(parsed.male, seq % 2 == 1);
        }

        #[test]
        fn changing_one_digit_breaks_the_checksum(
            days in 0i64..40_000, seq in 0u32..1000, pos in 14usize..17, delta in 1u8..10,
        ) {
            // Only the sequence digits are changed, so region and date stay valid
            // and the check character must catch the change.
            let birth = NaiveDate::from_ymd_opt(1920, 1, 1).unwrap() + chrono::Days::new(days as u64);
            let mut bytes = make_id_number(330702, birth, seq).into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let text = String::from_utf8(bytes).unwrap();
            let is_checksum_error = matches!(parse_id_number(&text), Err(Reason::IdNumberChecksum { .. }));
            prop_assert!(is_checksum_error);
        }
    }

    #[test]
    fn boundaries_are_closed_polygons_in_degrees() {
        let square =
            r#"{"type":"Polygon","coordinates":[[[119.6,29.0],[119.7,29.0],[119.7,29.1],[119.6,29.0]]]}"#;
        assert_eq!(check_boundary(square), Ok(()));
        let feature = format!(r#"{{"type":"Feature","properties":{{}},"geometry":{square}}}"#);
        assert_eq!(check_boundary(&feature), Ok(()));
        let multi = r#"{"type":"MultiPolygon","coordinates":[[[[1,1],[2,1],[2,2],[1,1]]]]}"#;
        assert_eq!(check_boundary(multi), Ok(()));
        for bad in [
            "not json",
            r#"{"type":"Point","coordinates":[119.6,29.0]}"#,
            r#"{"type":"Polygon","coordinates":[[[119.6,29.0],[119.7,29.0],[119.7,29.1],[119.6,29.2]]]}"#,
            r#"{"type":"Polygon","coordinates":[[[12960000,3390000],[1,1],[2,2],[12960000,3390000]]]}"#,
            r#"{"type":"Polygon","coordinates":[]}"#,
            r#"{"type":"Feature","geometry":null}"#,
        ] {
            assert_eq!(check_boundary(bad), Err(Reason::NotABoundary), "{bad}");
        }
    }
}
