//! PAX extended header data as Go's `archive/tar` reads it: records walked by their
//! declared length, so a value may hold any byte, newlines included.

/// The most data Go reads from a PAX header or a GNU long name (`maxSpecialFileSize`).
pub const MAX_DATA: u64 = 1 << 20;

/// Keys GNU tar's sparse format 0.0 repeats, once per region; Go gathers them into
/// one `GNU.sparse.map` record.
const SPARSE_OFFSET: &[u8] = b"GNU.sparse.offset";
const SPARSE_NUMBYTES: &[u8] = b"GNU.sparse.numbytes";
pub const SPARSE_MAP: &[u8] = b"GNU.sparse.map";

/// The records of one extended header, in archive order, each key once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records(Vec<(Vec<u8>, Vec<u8>)>);

impl Records {
    /// The value of `key`, if given.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Every record.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.0.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

/// Parse the data of a PAX extended header: `"<len> <key>=<value>\n"` records, each
/// `<len>` bytes long. A record whose length does not end it at a newline, a key that
/// is empty or holds a NUL, a name that holds a NUL, or a key given twice is refused
/// (Go takes the last of two values, other readers the first).
pub fn parse(mut data: &[u8]) -> Result<Records, String> {
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut sparse: Vec<&[u8]> = Vec::new();
    let mut index = 0;
    while !data.is_empty() {
        index += 1;
        let bad = |why: &str| format!("PAX record {index}: {why}");
        let space = data
            .iter()
            .position(|&c| c == b' ')
            .ok_or_else(|| bad("no length"))?;
        let len = decimal(&data[..space])
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| bad("malformed length"))?;
        if len < 5 || len > data.len() || len <= space + 1 {
            return Err(bad(&format!(
                "length {len} does not fit the {} bytes left",
                data.len()
            )));
        }
        let (record, rest) = data.split_at(len);
        if record[len - 1] != b'\n' {
            return Err(bad(&format!("length {len} does not end at a newline")));
        }
        let body = &record[space + 1..len - 1];
        let eq = body
            .iter()
            .position(|&c| c == b'=')
            .ok_or_else(|| bad("no '='"))?;
        let (key, value) = (&body[..eq], &body[eq + 1..]);
        let lossy = String::from_utf8_lossy(key);
        if key.is_empty() || key.contains(&0) {
            return Err(bad("an empty key or one holding a NUL"));
        }
        if matches!(key, b"path" | b"linkpath" | b"uname" | b"gname") && value.contains(&0) {
            return Err(bad(&format!("{lossy:?} holds a NUL")));
        }
        if key == SPARSE_OFFSET || key == SPARSE_NUMBYTES {
            let expected = if sparse.len().is_multiple_of(2) {
                SPARSE_OFFSET
            } else {
                SPARSE_NUMBYTES
            };
            if key != expected || value.contains(&b',') {
                return Err(bad("GNU.sparse.offset and numbytes out of turn"));
            }
            sparse.push(value);
        } else if records.iter().any(|(k, _)| k == key) {
            return Err(format!("PAX record {lossy:?} given twice"));
        } else {
            records.push((key.to_vec(), value.to_vec()));
        }
        data = rest;
    }
    if !sparse.is_empty() {
        if records.iter().any(|(k, _)| k == SPARSE_MAP) {
            return Err(format!(
                "PAX record {:?} given twice",
                String::from_utf8_lossy(SPARSE_MAP)
            ));
        }
        records.push((SPARSE_MAP.to_vec(), sparse.join(&b',')));
    }
    Ok(Records(records))
}

/// A decimal integer as Go's `strconv.ParseInt(s, 10, 64)` reads it: an optional sign,
/// then digits only.
pub fn decimal(s: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(s).ok()?;
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A PAX time record as Go's `parsePAXTime` reads it: decimal seconds, optionally
/// signed, and an optional fraction cut to nanoseconds (`-1.5` is 1.5 s before the
/// epoch).
pub fn time(value: &[u8]) -> Option<(i64, u32)> {
    let cut = value.iter().position(|&c| c == b'.');
    let (secs, fraction) = match cut {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &b""[..]),
    };
    let secs = decimal(secs)?;
    if !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut nanos: u32 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + fraction.get(i).map_or(0, |d| u32::from(d - b'0'));
    }
    if nanos > 0 && value.first() == Some(&b'-') {
        Some((secs.checked_sub(1)?, 1_000_000_000 - nanos))
    } else {
        Some((secs, nanos))
    }
}
