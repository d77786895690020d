//! Durations as people write them: `72h`, `30m`, `1h30m`, `7d`, `45s`.

/// The seconds of `text`: one or more `<number><unit>` parts, units `d`, `h`, `m`, `s`.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let invalid = || format!("{text:?} is not a duration such as 72h, 30m, 1h30m or 7d");
    let mut seconds: u64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let number: u64 = digits.parse().map_err(|_| invalid())?;
        seconds = number
            .checked_mul(unit)
            .and_then(|part| seconds.checked_add(part))
            .ok_or_else(invalid)?;
        digits.clear();
        parts += 1;
    }
    if !digits.is_empty() || parts == 0 {
        return Err(invalid());
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("72h"), Ok(72 * 3600));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("3d2h1m1s"), Ok(266_461));
        for bad in [
            "",
            "72",
            "h",
            "1x",
            "-1h",
            "1.5h",
            "99999999999999999999d",
            "1h 30m",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
