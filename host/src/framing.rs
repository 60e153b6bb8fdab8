//! A check on HTTP/1 message framing, made on the raw bytes of a connection.
//!
//! hyper follows RFC 9112 §6.1 for a request with both `Content-Length` and
//! `Transfer-Encoding`: it drops `Content-Length`, decodes the chunked body and closes the
//! connection afterwards. wasmgate refuses such requests outright with 400 (they are the
//! stuff of request smuggling), so it has to see them before hyper normalises the headers.
//! [`FramingCheck`] follows the framing of every request on a connection (head, then a
//! `Content-Length` or chunked body) and records the index of the first request whose head
//! has both headers. On anything it does not follow (HTTP/2, `CONNECT`, upgrades, a head it
//! cannot parse) it stops, leaving the request to hyper's own checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The longest request head followed; longer ones are hyper's to refuse.
const MAX_HEAD: usize = 64 * 1024;

enum State {
    Head(Vec<u8>),
    Body(u64),
    ChunkSize(Vec<u8>),
    ChunkData(u64),
    ChunkDataEnd(u8),
    Trailers(Vec<u8>),
    Off,
}

/// Follows the requests on one connection.
pub(crate) struct FramingCheck {
    state: State,
    heads: u64,
    conflict: Arc<AtomicU64>,
    /// When the head being received started (ms since `epoch`, plus one), or 0 between heads.
    head_started: Arc<AtomicU64>,
    epoch: Instant,
}

impl FramingCheck {
    /// A check whose finding (the 1-based index of the offending request, 0 for none) is
    /// published in `conflict`.
    pub(crate) fn new(conflict: Arc<AtomicU64>) -> FramingCheck {
        FramingCheck {
            state: State::Head(Vec::new()),
            heads: 0,
            conflict,
            head_started: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        }
    }

    /// A handle that tells how long the head being received has taken so far.
    pub(crate) fn head_clock(&self) -> HeadClock {
        HeadClock { started: self.head_started.clone(), epoch: self.epoch }
    }

    /// Feeds bytes read from the client, in order. Linear in the input: body bytes are
    /// skipped by count, and only heads, chunk-size lines and trailers are buffered (bounded).
    pub(crate) fn feed(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            match &mut self.state {
                State::Off => return,
                State::Head(buf) => {
                    if buf.is_empty() {
                        // Empty lines before a request line are allowed (RFC 9112 §2.2).
                        while i < data.len() && (data[i] == b'\r' || data[i] == b'\n') {
                            i += 1;
                        }
                        if i == data.len() {
                            return;
                        }
                        let now = self.epoch.elapsed().as_millis() as u64 + 1;
                        self.head_started.store(now, Ordering::Release);
                    }
                    if buf.is_empty() {
                        // The usual case: the whole head is in this read. Parse it in place.
                        let window = &data[i..data.len().min(i + MAX_HEAD + 4)];
                        if let Some(at) = memchr::memmem::find(window, b"\r\n\r\n") {
                            let head_len = at + 4;
                            self.head_started.store(0, Ordering::Release);
                            self.state = self.after_head(&data[i..i + head_len]);
                            i += head_len;
                            continue;
                        }
                    }
                    let State::Head(buf) = &mut self.state else { unreachable!() };
                    let searched = buf.len().saturating_sub(3);
                    let window_end = data.len().min(i + MAX_HEAD + 4);
                    buf.extend_from_slice(&data[i..window_end]);
                    match memchr::memmem::find(&buf[searched..], b"\r\n\r\n") {
                        None => {
                            i = window_end;
                            if buf.len() > MAX_HEAD {
                                self.stop();
                                return;
                            }
                        }
                        Some(at) => {
                            let head_len = searched + at + 4;
                            // Bytes past the head go back to the loop, unconsumed.
                            i = window_end - (buf.len() - head_len);
                            buf.truncate(head_len);
                            let head = std::mem::take(buf);
                            self.head_started.store(0, Ordering::Release);
                            self.state = self.after_head(&head);
                        }
                    }
                }
                State::Body(left) => {
                    let take = (*left).min((data.len() - i) as u64);
                    *left -= take;
                    i += take as usize;
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                }
                State::ChunkSize(line) => match data[i..].iter().position(|&b| b == b'\n') {
                    None => {
                        line.extend_from_slice(&data[i..]);
                        if line.len() > 1024 {
                            self.stop();
                        }
                        return;
                    }
                    Some(nl) => {
                        line.extend_from_slice(&data[i..i + nl]);
                        i += nl + 1;
                        let text = String::from_utf8_lossy(line);
                        let size = text.trim_end().split(';').next().unwrap_or_default().trim();
                        self.state = match u64::from_str_radix(size, 16) {
                            Ok(0) => State::Trailers(Vec::new()),
                            Ok(n) => State::ChunkData(n),
                            Err(_) => State::Off,
                        };
                    }
                },
                State::ChunkData(left) => {
                    let take = (*left).min((data.len() - i) as u64);
                    *left -= take;
                    i += take as usize;
                    if *left == 0 {
                        self.state = State::ChunkDataEnd(2);
                    }
                }
                State::ChunkDataEnd(left) => {
                    let take = usize::from(*left).min(data.len() - i);
                    *left -= take as u8;
                    i += take;
                    if *left == 0 {
                        self.state = State::ChunkSize(Vec::new());
                    }
                }
                State::Trailers(buf) => {
                    // Trailers end with an empty line: right away, or after trailer fields.
                    let searched = buf.len().saturating_sub(3);
                    let window_end = data.len().min(i + MAX_HEAD + 4);
                    buf.extend_from_slice(&data[i..window_end]);
                    let end = if buf.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        memchr::memmem::find(&buf[searched..], b"\r\n\r\n").map(|at| searched + at + 4)
                    };
                    match end {
                        None => {
                            i = window_end;
                            if buf.len() > MAX_HEAD {
                                self.stop();
                                return;
                            }
                        }
                        Some(end) => {
                            i = window_end - (buf.len() - end);
                            self.state = State::Head(Vec::new());
                        }
                    }
                }
            }
        }
    }

    fn stop(&mut self) {
        self.state = State::Off;
        self.head_started.store(0, Ordering::Release);
    }

    fn after_head(&mut self, head: &[u8]) -> State {
        // Uninitialised header slots: zeroing 512 of them per request cost more than the parse.
        let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 512];
        let mut req = httparse::Request::new(&mut []);
        let parsed = req.parse_with_uninit_headers(head, &mut headers);
        if !matches!(parsed, Ok(httparse::Status::Complete(_))) || req.method == Some("CONNECT") {
            return State::Off;
        }
        self.heads += 1;
        let (mut length, mut te, mut chunked, mut upgrade) = (None, false, false, false);
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                length = Some(content_length(h.value).unwrap_or(u64::MAX));
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                te = true;
                chunked = h.value.trim_ascii().to_ascii_lowercase().ends_with(b"chunked");
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                upgrade = true;
            }
        }
        if te && length.is_some() {
            let _ = self.conflict.compare_exchange(0, self.heads, Ordering::AcqRel, Ordering::Acquire);
            return State::Off; // hyper closes the connection after this request
        }
        match (te, chunked, length) {
            _ if upgrade => State::Off,
            (true, true, _) => State::ChunkSize(Vec::new()),
            (true, false, _) => State::Off,
            (false, _, Some(u64::MAX)) => State::Off,
            (false, _, Some(0)) | (false, _, None) => State::Head(Vec::new()),
            (false, _, Some(n)) => State::Body(n),
        }
    }
}

/// How long a partially received request head has been arriving.
#[derive(Clone)]
pub(crate) struct HeadClock {
    started: Arc<AtomicU64>,
    epoch: Instant,
}

impl HeadClock {
    /// `Some(elapsed)` while a head is partially received.
    pub(crate) fn in_head_for(&self) -> Option<std::time::Duration> {
        match self.started.load(Ordering::Acquire) {
            0 => None,
            started => {
                let now = self.epoch.elapsed().as_millis() as u64 + 1;
                Some(std::time::Duration::from_millis(now.saturating_sub(started)))
            }
        }
    }
}

/// A `Content-Length` value: one number, or a list of equal numbers (`5, 5`).
fn content_length(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let mut values = text.split(',').map(|v| v.trim().parse::<u64>());
    let first = values.next()?.ok()?;
    values.all(|v| v == Ok(first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict_in(stream: &[&[u8]]) -> u64 {
        let flag = Arc::new(AtomicU64::new(0));
        let mut check = FramingCheck::new(flag.clone());
        for part in stream {
            check.feed(part);
        }
        flag.load(Ordering::Acquire)
    }

    #[test]
    fn finds_the_offending_request_after_framed_ones() {
        let stream: &[&[u8]] = &[
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
            b"c\r\n0\r\nX-Trailer: 1\r\n\r\n",
            b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ];
        assert_eq!(conflict_in(stream), 4);
        // The same bytes, a byte at a time.
        let joined: Vec<u8> = stream.concat();
        let bytes: Vec<&[u8]> = joined.chunks(1).collect();
        assert_eq!(conflict_in(&bytes), 4);
    }

    #[test]
    fn body_bytes_that_look_like_a_head_are_not_read_as_one() {
        let body = b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = format!("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
        assert_eq!(conflict_in(&[head.as_bytes(), body]), 0);
    }

    #[test]
    fn blank_lines_and_length_lists_do_not_switch_it_off() {
        let stream: &[&[u8]] = &[
            b"\r\n\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nhi\r\n",
            b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ];
        assert_eq!(conflict_in(stream), 2);
    }

    #[test]
    fn many_tiny_chunks_are_followed_cheaply() {
        let mut body = Vec::new();
        for _ in 0..100_000 {
            body.extend_from_slice(b"1\r\nX\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        let head: &[u8] = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        let next: &[u8] = b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(conflict_in(&[head, &body, next]), 2);
    }

    #[test]
    fn stops_on_http2_preface() {
        assert_eq!(conflict_in(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"anything"]), 0);
    }
}
