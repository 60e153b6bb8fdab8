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
}

impl FramingCheck {
    /// A check whose finding (the 1-based index of the offending request, 0 for none) is
    /// published in `conflict`.
    pub(crate) fn new(conflict: Arc<AtomicU64>) -> FramingCheck {
        FramingCheck {
            state: State::Head(Vec::new()),
            heads: 0,
            conflict,
        }
    }

    /// Feeds bytes read from the client, in order.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        let mut data = data.to_vec();
        while !data.is_empty() {
            let rest = match &mut self.state {
                State::Off => return,
                State::Head(buf) => {
                    let from = buf.len().saturating_sub(3);
                    buf.extend_from_slice(&data);
                    match find(&buf[from..], b"\r\n\r\n") {
                        None => {
                            if buf.len() > MAX_HEAD {
                                self.state = State::Off;
                            }
                            return;
                        }
                        Some(at) => {
                            let end = from + at + 4;
                            let rest = buf.split_off(end);
                            let head = std::mem::take(buf);
                            self.state = self.after_head(&head);
                            rest
                        }
                    }
                }
                State::Body(left) => {
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                    data.split_off(take as usize)
                }
                State::ChunkSize(line) => match data.iter().position(|&b| b == b'\n') {
                    None => {
                        line.extend_from_slice(&data);
                        if line.len() > 1024 {
                            self.state = State::Off;
                        }
                        return;
                    }
                    Some(nl) => {
                        line.extend_from_slice(&data[..=nl]);
                        let text = String::from_utf8_lossy(line);
                        let size = text.trim_end().split(';').next().unwrap_or_default().trim();
                        self.state = match u64::from_str_radix(size, 16) {
                            Ok(0) => State::Trailers(Vec::new()),
                            Ok(n) => State::ChunkData(n),
                            Err(_) => State::Off,
                        };
                        data.split_off(nl + 1)
                    }
                },
                State::ChunkData(left) => {
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    if *left == 0 {
                        self.state = State::ChunkDataEnd(2);
                    }
                    data.split_off(take as usize)
                }
                State::ChunkDataEnd(left) => {
                    let take = usize::from(*left).min(data.len());
                    *left -= take as u8;
                    if *left == 0 {
                        self.state = State::ChunkSize(Vec::new());
                    }
                    data.split_off(take)
                }
                State::Trailers(buf) => {
                    buf.extend_from_slice(&data);
                    let end = if buf.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        find(buf, b"\r\n\r\n").map(|at| at + 4)
                    };
                    match end {
                        None => {
                            if buf.len() > MAX_HEAD {
                                self.state = State::Off;
                            }
                            return;
                        }
                        Some(end) => {
                            let rest = buf.split_off(end);
                            self.state = State::Head(Vec::new());
                            rest
                        }
                    }
                }
            };
            data = rest;
        }
    }

    fn after_head(&mut self, head: &[u8]) -> State {
        let mut headers = [httparse::EMPTY_HEADER; 256];
        let mut req = httparse::Request::new(&mut headers);
        if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) || req.method == Some("CONNECT") {
            return State::Off;
        }
        self.heads += 1;
        let (mut length, mut te, mut chunked, mut upgrade) = (None, false, false, false);
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                length = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .or(Some(u64::MAX));
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                te = true;
                chunked = h.value.trim_ascii().to_ascii_lowercase().ends_with(b"chunked");
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                upgrade = true;
            }
        }
        if te && length.is_some() {
            let _ = self
                .conflict
                .compare_exchange(0, self.heads, Ordering::AcqRel, Ordering::Acquire);
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
    fn stops_on_http2_preface() {
        assert_eq!(conflict_in(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"anything"]), 0);
    }
}
