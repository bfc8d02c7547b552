//! Byte ranges: the `Range` header of blob downloads and the `Content-Range` header of chunked
//! uploads, whose distribution form is `start-end` (inclusive), not HTTP's `bytes start-end/len`.

use super::error::RegistryError;

/// An inclusive byte range within a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    /// Inclusive.
    pub end: u64,
}

impl ByteRange {
    pub fn byte_count(&self) -> u64 {
        self.end - self.start + 1
    }

    /// `bytes start-end/size`, the `Content-Range` of a 206 answer.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.start, self.end)
    }
}

/// What a download's `Range` header asks of a blob of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range, or one this server answers with the whole blob (several ranges, other units);
    /// HTTP lets a server ignore a `Range` header.
    Whole,
    /// One satisfiable range: answer 206.
    Part(ByteRange),
    /// A range that starts beyond the end: answer 416.
    Unsatisfiable,
}

/// Interprets a `Range` header (RFC 9110 §14.1.2) for a blob of `size` bytes.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match last.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) if size > 0 => Some((size.saturating_sub(n), size - 1)),
            Ok(_) => return RangeRequest::Unsatisfiable,
            Err(_) => None,
        },
        // `bytes=N-`: from N to the end.
        (false, true) => first.parse::<u64>().ok().map(|start| (start, u64::MAX)),
        (false, false) => match (first.parse::<u64>(), last.parse::<u64>()) {
            (Ok(start), Ok(end)) if start <= end => Some((start, end)),
            _ => None,
        },
        (true, true) => None,
    };
    match parsed {
        None => RangeRequest::Whole,
        Some((start, _)) if start >= size => RangeRequest::Unsatisfiable,
        Some((start, end)) => RangeRequest::Part(ByteRange {
            start,
            end: end.min(size - 1),
        }),
    }
}

/// Parses an upload chunk's `Content-Range` (`start-end`; `bytes start-end/total` is accepted
/// too, as some clients send it).
pub fn parse_content_range(header: &str) -> Result<ByteRange, RegistryError> {
    let invalid = || {
        RegistryError::RangeInvalid(format!(
            "Content-Range {header:?} is not of the form start-end"
        ))
    };
    let text = header.trim();
    let text = text.strip_prefix("bytes ").unwrap_or(text);
    let text = text.split_once('/').map_or(text, |(range, _)| range);
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid());
    }
    Ok(ByteRange { start, end })
}

/// The `Range` header of an upload status: `0-<last byte>`, and `0-0` before any byte arrived
/// (what the reference implementation sends).
pub fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Part(ByteRange { start, end })
    }

    #[test]
    fn download_ranges() {
        let cases = [
            (None, 100, RangeRequest::Whole),
            (Some("bytes=0-9"), 100, part(0, 9)),
            (Some("bytes=90-"), 100, part(90, 99)),
            (Some("bytes=90-500"), 100, part(90, 99)),
            (Some("bytes=-10"), 100, part(90, 99)),
            (Some("bytes=-500"), 100, part(0, 99)),
            (Some("bytes=100-"), 100, RangeRequest::Unsatisfiable),
            (Some("bytes=-0"), 100, RangeRequest::Unsatisfiable),
            (Some("bytes=0-"), 0, RangeRequest::Unsatisfiable),
            (Some("bytes=0-1,5-6"), 100, RangeRequest::Whole),
            (Some("items=0-1"), 100, RangeRequest::Whole),
            (Some("bytes=9-0"), 100, RangeRequest::Whole),
            (Some("bytes=x-1"), 100, RangeRequest::Whole),
        ];
        for (header, size, want) in cases {
            assert_eq!(parse_range(header, size), want, "{header:?} of {size}");
        }
        assert_eq!(ByteRange { start: 90, end: 99 }.byte_count(), 10);
        assert_eq!(
            ByteRange { start: 90, end: 99 }.content_range(100),
            "bytes 90-99/100"
        );
    }

    #[test]
    fn upload_content_ranges() {
        let ok = [
            ("0-99", (0, 99)),
            ("100-100", (100, 100)),
            ("bytes 5-9/*", (5, 9)),
            (" 5-9 ", (5, 9)),
        ];
        for (header, (start, end)) in ok {
            assert_eq!(
                parse_content_range(header).expect(header),
                ByteRange { start, end },
                "{header}"
            );
        }
        for bad in ["", "5", "9-5", "a-b", "-5", "5-"] {
            let err = parse_content_range(bad).expect_err(bad);
            assert_eq!(err.status(), 416, "{bad}");
        }
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(10), "0-9");
    }
}
