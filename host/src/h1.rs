//! The HTTP/1.1 codec shared by the gateway's server connections and its backend client: a
//! read buffer, message-body decoding (`Content-Length`, chunked, until close), and the
//! parts of head parsing both sides share. Heads are parsed by [`httparse`].

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderValue, Version};
use tokio::io::{AsyncRead, ReadBuf};

/// The longest chunk-size line (size and extensions) accepted.
const MAX_CHUNK_LINE: usize = 1024;
/// The most trailer bytes accepted after a chunked body.
const MAX_TRAILERS: usize = 16 * 1024;

/// Bytes read from a connection and not yet consumed (`buf[start..end]`).
pub(crate) struct ReadBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuffer {
    /// An empty buffer of `capacity` bytes (it grows, up to a caller's limit, for long heads).
    pub(crate) fn new(capacity: usize) -> ReadBuffer {
        ReadBuffer { buf: vec![0; capacity], start: 0, end: 0 }
    }

    /// The bytes read and not consumed.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` pending bytes as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Reads more bytes from `io` (compacting, or growing up to `max` bytes, when full).
    /// `Ok(0)` at end of stream; an error of kind `OutOfMemory` when `max` pending bytes
    /// are not enough.
    pub(crate) fn poll_fill<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<std::io::Result<usize>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < max {
                self.buf.resize((self.buf.len() * 2).min(max), 0);
            } else {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    "message head too large",
                )));
            }
        }
        let mut rb = ReadBuf::new(&mut self.buf[self.end..]);
        ready!(Pin::new(io).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }
}

/// Where a message body decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// This many bytes left.
    Length(u64),
    /// Chunked, at this point of the encoding.
    Chunked(Chunked),
    /// Everything until the peer closes.
    UntilClose,
    /// Read to the end.
    Done,
}

/// A point in the chunked encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one (they are not kept); the bytes
    /// of trailers seen so far.
    Trailers(usize),
}

/// What [`Decoder::decode`] found in the buffer.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
    /// More bytes must be read first.
    NeedMore,
    /// The encoding is broken.
    Invalid(&'static str),
    /// The connection ended before the body did.
    CutShort,
}

impl Decoder {
    /// Decodes what `buf` holds, consuming it.
    pub(crate) fn decode(&mut self, buf: &mut ReadBuffer) -> Decoded {
        loop {
            let pending = buf.pending();
            match *self {
                Decoder::Done | Decoder::Length(0) => {
                    *self = Decoder::Done;
                    return Decoded::End;
                }
                _ if pending.is_empty() => return Decoded::NeedMore,
                Decoder::Length(left) => {
                    let take = pending.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let data = Bytes::copy_from_slice(&pending[..take]);
                    buf.consume(take);
                    *self = Decoder::Length(left - take as u64);
                    return Decoded::Data(data);
                }
                Decoder::UntilClose => {
                    let data = Bytes::copy_from_slice(pending);
                    buf.consume(pending.len());
                    return Decoded::Data(data);
                }
                Decoder::Chunked(Chunked::Data(left)) => {
                    let take = pending.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let data = Bytes::copy_from_slice(&pending[..take]);
                    buf.consume(take);
                    let left = left - take as u64;
                    *self = Decoder::Chunked(if left == 0 { Chunked::DataEnd } else { Chunked::Data(left) });
                    return Decoded::Data(data);
                }
                Decoder::Chunked(Chunked::Size) => {
                    // Strict: hex digits first, CRLF at the end, no bare LF, a bounded line.
                    if !pending[0].is_ascii_hexdigit() {
                        return Decoded::Invalid("invalid chunk size line");
                    }
                    match httparse::parse_chunk_size(pending) {
                        Ok(httparse::Status::Complete((used, size)))
                            if used <= MAX_CHUNK_LINE
                                && pending[..used].ends_with(b"\r\n")
                                && !pending[..used - 1].contains(&b'\n') =>
                        {
                            buf.consume(used);
                            *self =
                                Decoder::Chunked(if size == 0 { Chunked::Trailers(0) } else { Chunked::Data(size) });
                        }
                        Ok(httparse::Status::Partial) if pending.len() < MAX_CHUNK_LINE => return Decoded::NeedMore,
                        _ => return Decoded::Invalid("invalid chunk size line"),
                    }
                }
                Decoder::Chunked(Chunked::DataEnd) => {
                    if pending.len() < 2 {
                        return if pending == b"\r" {
                            Decoded::NeedMore
                        } else {
                            Decoded::Invalid("chunk not followed by CRLF")
                        };
                    }
                    if &pending[..2] != b"\r\n" {
                        return Decoded::Invalid("chunk not followed by CRLF");
                    }
                    buf.consume(2);
                    *self = Decoder::Chunked(Chunked::Size);
                }
                Decoder::Chunked(Chunked::Trailers(seen)) => match memchr::memmem::find(pending, b"\r\n") {
                    Some(0) => {
                        buf.consume(2);
                        *self = Decoder::Done;
                        return Decoded::End;
                    }
                    Some(eol) if seen + eol + 2 <= MAX_TRAILERS && !pending[..eol].contains(&b'\n') => {
                        buf.consume(eol + 2);
                        *self = Decoder::Chunked(Chunked::Trailers(seen + eol + 2));
                    }
                    Some(_) => return Decoded::Invalid("invalid or too large trailers"),
                    None if seen + pending.len() > MAX_TRAILERS => return Decoded::Invalid("trailers too large"),
                    None => return Decoded::NeedMore,
                },
            }
        }
    }

    /// What the end of the stream means here: the end of a close-delimited body, else a
    /// body cut short.
    pub(crate) fn at_eof(&mut self) -> Decoded {
        match *self {
            Decoder::UntilClose | Decoder::Done | Decoder::Length(0) => {
                *self = Decoder::Done;
                Decoded::End
            }
            _ => Decoded::CutShort,
        }
    }

    /// True when the body has been read to its end.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Decoder::Done | Decoder::Length(0))
    }

    /// The exact number of body bytes left, when known.
    pub(crate) fn exact_len(&self) -> Option<u64> {
        match *self {
            Decoder::Length(n) => Some(n),
            Decoder::Done => Some(0),
            _ => None,
        }
    }
}

/// `part`, a slice of the buffer at `base` that `head` is a copy of, as a slice of `head`:
/// the parts of a head share its one copy instead of being copied each. `None` when `part`
/// does not lie within it.
pub(crate) fn shared_slice(head: &Bytes, base: *const u8, part: &[u8]) -> Option<Bytes> {
    let offset = (part.as_ptr() as usize).checked_sub(base as usize)?;
    let slice = head.get(offset..offset + part.len())?;
    debug_assert_eq!(slice, part);
    Some(head.slice(offset..offset + part.len()))
}

/// A header value parsed out of a head, sharing `head` ([`shared_slice`]).
pub(crate) fn shared_value(head: &Bytes, base: *const u8, value: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(shared_slice(head, base, value)?).ok()
}

/// Applies a `Connection` header value to whether the connection stays open: a `close` token
/// ends it, a `keep-alive` token keeps an HTTP/1.0 one.
pub(crate) fn apply_connection_tokens(value: &[u8], version: Version, keep_alive: &mut bool) {
    for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
        if token.eq_ignore_ascii_case(b"close") {
            *keep_alive = false;
        } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::HTTP_10 {
            *keep_alive = true;
        }
    }
}

/// Appends `data` as one chunk of the chunked coding.
pub(crate) fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    use std::io::Write as _;
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// `Content-Length` as a number: digits only (a list of equal values is accepted).
pub(crate) fn content_length(value: &[u8]) -> Option<u64> {
    // The usual value: one number, digits only, that cannot overflow.
    if !value.is_empty() && value.len() <= 18 && value.iter().all(u8::is_ascii_digit) {
        return Some(value.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')));
    }
    let text = std::str::from_utf8(value).ok()?;
    let mut result = None;
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = part.parse().ok()?;
        if result.is_some_and(|r| r != n) {
            return None;
        }
        result = Some(n);
    }
    result
}

/// True when the last transfer coding of a `Transfer-Encoding` value is `chunked`.
pub(crate) fn is_chunked(value: &[u8]) -> bool {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(bytes: &[u8]) -> ReadBuffer {
        let mut b = ReadBuffer::new(bytes.len().max(1));
        b.buf[..bytes.len()].copy_from_slice(bytes);
        b.end = bytes.len();
        b
    }

    fn drain(decoder: &mut Decoder, bytes: &[u8]) -> (Vec<u8>, String) {
        let (out, end, _) = drain_keep(decoder, bytes);
        (out, end)
    }

    /// Decodes `bytes`; also returns what was left unconsumed.
    fn drain_keep(decoder: &mut Decoder, bytes: &[u8]) -> (Vec<u8>, String, Vec<u8>) {
        let mut buf = buffer(bytes);
        let mut out = Vec::new();
        loop {
            match decoder.decode(&mut buf) {
                Decoded::Data(d) => out.extend_from_slice(&d),
                other => return (out, format!("{other:?}"), buf.pending().to_vec()),
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_across_pieces() {
        let mut d = Decoder::Chunked(Chunked::Size);
        let (out, end) = drain(&mut d, b"5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nt: 1\r\n\r\n");
        assert_eq!((out.as_slice(), end.as_str()), (&b"hello!"[..], "End"));
        // Split anywhere, the same.
        let whole = b"3\r\nabc\r\n0\r\n\r\n";
        for cut in 0..whole.len() {
            let mut d = Decoder::Chunked(Chunked::Size);
            let (mut a, end, mut left) = drain_keep(&mut d, &whole[..cut]);
            assert!(end == "NeedMore" || end == "End", "{cut}: {end}");
            left.extend_from_slice(&whole[cut..]);
            let (b, end) = drain(&mut d, &left);
            a.extend(b);
            assert_eq!((a.as_slice(), end.as_str()), (&b"abc"[..], "End"), "cut at {cut}");
        }
    }

    #[test]
    fn broken_encodings_are_invalid() {
        // Chunk-size lines and trailers that other parsers could read differently.
        for bad in [&b"\r\n"[..], b" 5\r\n", b";x\r\n", b"5;a\nb\r\nhello\r\n", b"0\r\nx\ny\r\n\r\n"] {
            let mut d = Decoder::Chunked(Chunked::Size);
            let (_, end) = drain(&mut d, bad);
            assert!(end.starts_with("Invalid"), "{:?}: {end}", String::from_utf8_lossy(bad));
        }
        let long = format!("5;{}\r\nhello\r\n", "e".repeat(2000));
        assert!(drain(&mut Decoder::Chunked(Chunked::Size), long.as_bytes()).1.starts_with("Invalid"));
        let trailers = format!("0\r\n{}\r\n", "t: v\r\n".repeat(4000));
        assert!(drain(&mut Decoder::Chunked(Chunked::Size), trailers.as_bytes()).1.starts_with("Invalid"));
        for bad in [&b"zz\r\n"[..], b"3\r\nabcXY", b"3\r\nabc\r\n0\r\n"] {
            let mut d = Decoder::Chunked(Chunked::Size);
            let (_, end) = drain(&mut d, bad);
            if bad.ends_with(b"0\r\n") {
                assert_eq!(end, "NeedMore");
                assert!(matches!(d.at_eof(), Decoded::CutShort));
            } else {
                assert!(end.starts_with("Invalid"), "{end}");
            }
        }
        let mut d = Decoder::Length(10);
        assert_eq!(drain(&mut d, b"12345").1, "NeedMore");
        assert!(matches!(d.at_eof(), Decoded::CutShort));
        let mut d = Decoder::UntilClose;
        assert_eq!(drain(&mut d, b"abc").0, b"abc");
        assert!(matches!(d.at_eof(), Decoded::End));
    }

    #[test]
    fn lengths_and_codings() {
        assert_eq!(content_length(b"42"), Some(42));
        assert_eq!(content_length(b"5, 5"), Some(5));
        assert_eq!(content_length(b"5, 6"), None);
        assert_eq!(content_length(b"+5"), None);
        assert_eq!(content_length(b""), None);
        assert_eq!(content_length(b"0"), Some(0));
        assert_eq!(content_length(b"999999999999999999"), Some(999_999_999_999_999_999));
        assert_eq!(content_length(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(content_length(b"18446744073709551616"), None);
        assert_eq!(content_length(b"00012"), Some(12));
        assert_eq!(content_length(b"1 2"), None);
        assert!(is_chunked(b"gzip, Chunked"));
        assert!(!is_chunked(b"chunked, gzip"));
    }

    #[test]
    fn connection_tokens_and_chunks() {
        let keeps = |value: &[u8], version, start| {
            let mut keep = start;
            apply_connection_tokens(value, version, &mut keep);
            keep
        };
        assert!(!keeps(b"Upgrade, Close", Version::HTTP_11, true));
        assert!(keeps(b"keep-alive", Version::HTTP_10, false));
        assert!(!keeps(b"keep-alive", Version::HTTP_11, false));
        assert!(keeps(b"closed", Version::HTTP_11, true));
        let mut out = Vec::new();
        push_chunk(&mut out, &[b'x'; 26]);
        assert_eq!(out, [&b"1a\r\n"[..], &[b'x'; 26], b"\r\n"].concat());
    }

    #[test]
    fn values_share_the_head() {
        let head = Bytes::from_static(b"x-a: hello\r\n");
        let v = shared_value(&head, head.as_ptr(), &head[5..10]).unwrap();
        assert_eq!(v, "hello");
        assert!(shared_value(&head, head.as_ptr(), b"elsewhere").is_none());
    }
}
