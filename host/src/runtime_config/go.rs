//! Go's number and time conversions as umoci and runc use them: `strconv.Atoi`,
//! `uint32(int)`, `bufio.Scanner`'s lines, and an RFC 3339 time read by
//! `time.Parse` and written by `Format(time.RFC3339Nano)`.

/// The longest line Go's `bufio.Scanner` accepts; a longer one ends the scan silently.
pub(super) const MAX_LINE: usize = 64 * 1024 - 1;

/// Go's `uint32(int)`: keep the low 32 bits.
pub(super) fn go_uint32(v: i64) -> u32 {
    v as u32
}

/// Go's `strconv.Atoi`: `Err` carries the value Go returns alongside its error (0 for
/// a syntax error, the clamped value on overflow).
pub(super) fn go_atoi(s: &str) -> Result<i64, i64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(0);
    }
    s.parse::<i64>()
        .map_err(|_| if negative { i64::MIN } else { i64::MAX })
}

/// The lines of a file as `bufio.Scanner` splits them: at `\n`, one trailing `\r`
/// dropped, no empty last line after a final newline; scanning stops at an overlong line.
pub(super) fn scan_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest.take().filter(|t| !t.is_empty())?;
        let (line, next) = match t.split_once('\n') {
            Some((line, next)) => (line, Some(next)),
            None => (t, None),
        };
        if line.len() > MAX_LINE {
            return None;
        }
        rest = next;
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// Parse an RFC 3339 time as Go 1.19's `time.Parse(time.RFC3339)` does and render it as
/// `Format(time.RFC3339Nano)` would: the offset kept (`Z` when zero), fractional seconds
/// truncated to nanoseconds and stripped of trailing zeros. Lenient where that Go was:
/// a one-digit hour, `,` before the fraction, any two-digit offset fields.
pub(super) fn go_rfc3339(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let num = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if b.len() < 10 || !at(4, b'-') || !at(7, b'-') || !at(10, b'T') {
        return None;
    }
    let year = num(&b[0..4])?;
    let month = num(&b[5..7])?;
    let day = num(&b[8..10])?;
    // Hour: one or two digits.
    let hour_len = match (b.get(11), b.get(12)) {
        (Some(d1), Some(d2)) if d1.is_ascii_digit() && d2.is_ascii_digit() => 2,
        (Some(d1), _) if d1.is_ascii_digit() => 1,
        _ => return None,
    };
    let hour = num(&b[11..11 + hour_len])?;
    let mut i = 11 + hour_len;
    if !at(i, b':') || !at(i + 3, b':') || b.len() < i + 6 {
        return None;
    }
    let minute = num(&b[i + 1..i + 3])?;
    let second = num(&b[i + 4..i + 6])?;
    i += 6;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut fraction = String::new();
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        fraction = text[i + 1..i + 1 + digits.min(9)]
            .trim_end_matches('0')
            .to_owned();
        i += 1 + digits;
    }
    let zone = &b[i..];
    let offset_minutes: i64 = match zone {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let minutes = i64::from(num(&[*h1, *h2])?) * 60 + i64::from(num(&[*m1, *m2])?);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(&fraction);
    }
    if offset_minutes == 0 {
        out.push('Z');
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let m = offset_minutes.abs();
        out.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
    }
    Some(out)
}
