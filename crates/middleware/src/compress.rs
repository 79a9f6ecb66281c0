//! Response compression on the fly: gzip, br and zstd content codings (RFC
//! 9110 §8.4), chosen from the request's `Accept-Encoding` (§12.5.3).
//!
//! Small bodies in memory are compressed at once and keep a known length;
//! everything else — large bodies in memory, file ranges, parts and streams —
//! becomes a compressing [`BodySource`] that pulls the original only as fast as
//! the client takes the compressed bytes, so backpressure survives and a large
//! file is never read whole into memory. Pieces of a stream are flushed through
//! the encoder as they come, so server-sent events and other live streams are
//! not held back waiting for a compression block to fill.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::task::{Context, Poll};

use bytes::Bytes;
use osprey_proto::{HeaderMap, HeaderName, HeaderValue};

use osprey_web::coding::parse_accept_encoding;
pub use osprey_web::coding::Coding;
use osprey_web::{Body, BodySource, Part};
use osprey_web::{Middleware, Next};
use osprey_web::{Reply, Request, Response};

/// Bodies shorter than this are sent as they are. Below about a kilobyte the
/// coding's own framing (18 bytes of gzip header and trailer, block headers)
/// eats most of the saving, and the response fits one TCP segment (MSS about
/// 1460 bytes) either way, so compressing costs CPU and saves no round trip.
pub const DEFAULT_MIN_SIZE: u64 = 1024;

/// Bodies in memory up to this size are compressed in one go and sent with a
/// known length (`Content-Length`, no chunk framing). Larger ones are
/// compressed piece by piece as the client reads, so the compressed copy held
/// per response stays bounded. At the default levels 64 KiB compresses in
/// about a millisecond.
pub const DEFAULT_IN_MEMORY_MAX: u64 = 64 * 1024;

/// How much of a file or a large in-memory body is fed to the encoder at a
/// time: the buffer a compressing stream reads a file into, and the most
/// input one step consumes before looking for output.
pub const DEFAULT_PIECE_SIZE: usize = 32 * 1024;

/// gzip level (0–9). 6 is zlib's own default, the usual speed/ratio balance.
pub const DEFAULT_GZIP_LEVEL: u32 = 6;

/// Brotli quality (0–11). Qualities 4–6 compress about as fast as gzip -6
/// and produce smaller output; 11 is tens of times slower and meant for
/// assets compressed ahead of time.
pub const DEFAULT_BROTLI_QUALITY: u32 = 5;

/// Brotli window, as log2 of its size in bytes (10–24): 2^20 = 1 MiB. Most
/// responses are smaller than that, so a larger window gains little while the
/// encoder's memory per in-flight response grows with it.
pub const DEFAULT_BROTLI_WINDOW_BITS: u32 = 20;

/// zstd level. 3 is zstd's own default: better ratio than gzip -6 at several
/// times its speed.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// The highest zstd level used: up to 19 the encoder's window stays within
/// 8 MiB, the most a `zstd`-coded HTTP response may need (RFC 9659 §3);
/// higher ("ultra") levels use larger windows that browsers refuse.
pub const MAX_ZSTD_LEVEL: i32 = 19;

/// The codings in order of preference when the client weighs them equally
/// (RFC 9110 §12.5.3 leaves ties to the server): at the default levels zstd
/// compresses better than gzip at several times its speed, and Brotli beats
/// gzip's ratio at a similar speed; gzip, the weakest, is the one every
/// client has. When nothing is acceptable, identity included (`identity;q=0`
/// or `*;q=0` without a coding we have), the response is sent without a
/// coding: §12.1 lets a server disregard the field instead of answering 406,
/// and a compression layer turning a good response into an error helps
/// nobody.
const PREFERENCE: [Coding; 3] = [Coding::Zstd, Coding::Brotli, Coding::Gzip];

/// Size of brotli's internal output buffer.
const BROTLI_BUFFER: usize = 4096;

/// Compression levels, fixed when the middleware is built.
#[derive(Clone, Copy, Debug)]
struct Levels {
    gzip: u32,
    brotli: u32,
    brotli_window: u32,
    zstd: i32,
}

/// Middleware compressing responses with the best coding the client accepts.
///
/// A response is compressed when the client accepts one of the enabled
/// codings, its status can carry a body other than a range (not 1xx, 204, 206
/// or 304), it has no `Content-Encoding` or `Content-Range` yet, its
/// `Cache-Control` does not say `no-transform` (RFC 9111 §5.2.2.6), its
/// `Content-Type` is compressible ([`osprey_web::mime::is_compressible`]), and its
/// body is at least [`Compress::min_size`] long or a stream of unknown length.
///
/// Such a response gets `Vary: Accept-Encoding` even when this client accepted
/// no coding, so that caches keep the variants apart (RFC 9110 §12.5.5). A
/// compressed one gets `Content-Encoding`, loses `Accept-Ranges` (byte ranges
/// of a representation compressed on the fly cannot be served), and a strong
/// `ETag` becomes weak: the encoded bytes differ from the identity ones, which
/// a strong validator must reflect (§8.8.3), while a weak one still matches in
/// `If-None-Match` (weak comparison, §13.1.2), so the inner handler's
/// conditional requests keep answering 304. `If-Range` needs a strong match,
/// so a client holding the weak tag gets a full response — also correct.
/// A 304 gets the `Vary` too, and its tag is made weak when the client's
/// `If-None-Match` shows it holds the encoded representation.
///
/// A `HEAD` request gets the same header fields a `GET` would; its body is
/// compressed like a `GET`'s when it is small (so `Content-Length` matches)
/// and otherwise never pulled, because the server drops it.
///
/// ```
/// use osprey_middleware::compress::Compress;
/// use osprey_web::{Body, Handler, Method, Request, Response, Router};
/// use std::io::Read;
///
/// let page = "<p>hello</p>\n".repeat(200);
/// let body = page.clone();
/// let app = Router::new()
///     .with(Compress::new().min_size(512))
///     .get("/", move |_: &mut Request| Response::html(body.clone()));
///
/// let mut req = Request::new(Method::Get, "/").with_header("Accept-Encoding", "gzip, br;q=0.5");
/// let resp = app.respond(&mut req);
/// assert_eq!(resp.headers.get("content-encoding").unwrap().as_bytes(), b"gzip");
/// assert_eq!(resp.headers.get("vary").unwrap().as_bytes(), b"Accept-Encoding");
/// let Body::Bytes(compressed) = resp.body else { panic!("a small body stays in memory") };
/// let mut decoded = String::new();
/// flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut decoded).unwrap();
/// assert_eq!(decoded, page);
/// ```
#[derive(Clone, Debug)]
pub struct Compress {
    min_size: u64,
    in_memory_max: u64,
    piece_size: usize,
    gzip: bool,
    brotli: bool,
    zstd: bool,
    levels: Levels,
}

impl Default for Compress {
    fn default() -> Compress {
        Compress::new()
    }
}

impl Compress {
    /// gzip, br and zstd enabled, with the `DEFAULT_*` sizes and levels.
    pub fn new() -> Compress {
        Compress {
            min_size: DEFAULT_MIN_SIZE,
            in_memory_max: DEFAULT_IN_MEMORY_MAX,
            piece_size: DEFAULT_PIECE_SIZE,
            gzip: true,
            brotli: true,
            zstd: true,
            levels: Levels {
                gzip: DEFAULT_GZIP_LEVEL,
                brotli: DEFAULT_BROTLI_QUALITY,
                brotli_window: DEFAULT_BROTLI_WINDOW_BITS,
                zstd: DEFAULT_ZSTD_LEVEL,
            },
        }
    }

    /// Bodies of known length below `bytes` are not compressed (default
    /// [`DEFAULT_MIN_SIZE`]). An empty body never is.
    pub fn min_size(mut self, bytes: u64) -> Compress {
        self.min_size = bytes;
        self
    }

    /// Bodies in memory up to `bytes` are compressed at once and keep a known
    /// length; larger ones are streamed (default [`DEFAULT_IN_MEMORY_MAX`]).
    pub fn in_memory_max(mut self, bytes: u64) -> Compress {
        self.in_memory_max = bytes;
        self
    }

    /// How many bytes of a file or large body are compressed per step
    /// (default [`DEFAULT_PIECE_SIZE`]; at least 1).
    pub fn piece_size(mut self, bytes: usize) -> Compress {
        self.piece_size = bytes.max(1);
        self
    }

    /// Enables or disables gzip.
    pub fn gzip(mut self, enabled: bool) -> Compress {
        self.gzip = enabled;
        self
    }

    /// Enables or disables br (Brotli).
    pub fn brotli(mut self, enabled: bool) -> Compress {
        self.brotli = enabled;
        self
    }

    /// Enables or disables zstd.
    pub fn zstd(mut self, enabled: bool) -> Compress {
        self.zstd = enabled;
        self
    }

    /// The gzip level, 0–9 (clamped; default [`DEFAULT_GZIP_LEVEL`]).
    pub fn gzip_level(mut self, level: u32) -> Compress {
        self.levels.gzip = level.min(9);
        self
    }

    /// The Brotli quality, 0–11 (clamped; default [`DEFAULT_BROTLI_QUALITY`]).
    pub fn brotli_quality(mut self, quality: u32) -> Compress {
        self.levels.brotli = quality.min(11);
        self
    }

    /// The Brotli window as log2 bytes, 10–24 (clamped; default
    /// [`DEFAULT_BROTLI_WINDOW_BITS`]).
    pub fn brotli_window_bits(mut self, bits: u32) -> Compress {
        self.levels.brotli_window = bits.clamp(10, 24);
        self
    }

    /// The zstd level, at most [`MAX_ZSTD_LEVEL`] (default
    /// [`DEFAULT_ZSTD_LEVEL`]; negative levels are zstd's fast modes).
    pub fn zstd_level(mut self, level: i32) -> Compress {
        self.levels.zstd = level.min(MAX_ZSTD_LEVEL);
        self
    }

    fn enabled(&self, coding: Coding) -> bool {
        match coding {
            Coding::Zstd => self.zstd,
            Coding::Brotli => self.brotli,
            Coding::Gzip => self.gzip,
        }
    }

    /// The coding to use for a response to `req`, from its `Accept-Encoding`
    /// fields; `None` for no coding. A request without `Accept-Encoding` gets
    /// none: RFC 9110 §12.5.3 lets a server use any coding then, but "does not
    /// imply that the user agent will be able to correctly process all
    /// encodings", and clients that decode always say so.
    pub fn negotiate(&self, req: &Request) -> Option<Coding> {
        let mut values = req.header_all("accept-encoding").peekable();
        values.peek()?;
        let mut candidates = [Coding::Zstd; 3];
        let mut n = 0;
        for c in PREFERENCE.into_iter().filter(|c| self.enabled(*c)) {
            candidates[n] = c;
            n += 1;
        }
        parse_accept_encoding(values).best_in(&candidates[..n])
    }

    /// Applies this middleware's rules to `resp`, for a client that accepts
    /// `coding` and sent these `If-None-Match` values (joined by commas).
    fn encode(&self, coding: Option<Coding>, if_none_match: &[u8], mut resp: Response) -> Response {
        match self.eligibility(&resp) {
            Eligibility::Never => return resp,
            Eligibility::NotModified => {
                // A 304 carries the Vary and ETag of the 200 it revalidates
                // (RFC 9110 §15.4.5). With no body to judge by, the client's
                // own tags tell which one it holds: the weak form of the tag
                // means it holds a response this middleware encoded.
                add_vary_accept_encoding(&mut resp.headers);
                if holds_encoded(&resp.headers, if_none_match) {
                    weaken_etag(&mut resp.headers);
                }
                return resp;
            }
            Eligibility::Compressible => add_vary_accept_encoding(&mut resp.headers),
        }
        let Some(coding) = coding else {
            return resp;
        };
        let input = match std::mem::take(&mut resp.body) {
            Body::Empty => return resp,
            upgrade @ Body::Upgrade(_) => {
                resp.body = upgrade;
                return resp;
            }
            Body::Bytes(bytes) if bytes.len() as u64 <= self.in_memory_max => {
                match compress_all(coding, &self.levels, &bytes) {
                    // Data labelled compressible that does not shrink (already
                    // compressed, random) goes out as it is.
                    Ok(out) if out.len() < bytes.len() => {
                        resp.body = Body::Bytes(Bytes::from(out));
                        set_encoded_fields(&mut resp.headers, coding);
                    }
                    _ => resp.body = Body::Bytes(bytes),
                }
                return resp;
            }
            Body::Bytes(bytes) => Input::Parts(VecDeque::from([Part::Bytes(bytes)])),
            Body::File(file) => Input::Parts(VecDeque::from([Part::File(file)])),
            Body::Parts(parts) => Input::Parts(parts.into()),
            Body::Stream(source) => Input::Stream(source),
        };
        resp.body = Body::stream(CompressedStream {
            input,
            state: EncoderState::NotStarted,
            coding,
            levels: self.levels,
            piece_size: self.piece_size,
            read_buf: Vec::new(),
        });
        set_encoded_fields(&mut resp.headers, coding);
        resp
    }

    fn eligibility(&self, resp: &Response) -> Eligibility {
        let status = resp.status.as_u16();
        // 1xx and 204 have no content; a 206 is a range of the identity
        // representation, which compressing would no longer match.
        if status < 200 || status == 204 || status == 206 {
            return Eligibility::Never;
        }
        let headers = &resp.headers;
        if headers.contains("content-encoding")
            || headers.contains("content-range")
            || has_no_transform(headers)
        {
            return Eligibility::Never;
        }
        let content_type = headers.get("content-type");
        let compressible =
            content_type.is_some_and(|ct| osprey_web::mime::is_compressible(ct.as_bytes()));
        if status == 304 {
            // A 304 usually omits Content-Type; only a known incompressible
            // type rules compression of the 200 out.
            return if content_type.is_none() || compressible {
                Eligibility::NotModified
            } else {
                Eligibility::Never
            };
        }
        if !compressible {
            return Eligibility::Never;
        }
        match resp.body.len_hint() {
            Some(0) => Eligibility::Never,
            Some(n) if n < self.min_size => Eligibility::Never,
            _ => Eligibility::Compressible,
        }
    }
}

impl Middleware for Compress {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        // Read the request first: an inner middleware may move it away.
        let coding = self.negotiate(req);
        let mut if_none_match = Vec::new();
        for (_, value) in req
            .headers()
            .filter(|(name, _)| name.eq_ignore_ascii_case(b"if-none-match"))
        {
            if_none_match.extend_from_slice(value);
            if_none_match.push(b',');
        }
        match next.run(req).into_ready() {
            Ok(resp) => self.encode(coding, &if_none_match, resp).into(),
            Err(pending) => {
                // Compressed when the response arrives (the settings are a
                // few plain numbers to copy).
                let this = self.clone();
                pending.map(move |resp| this.encode(coding, &if_none_match, resp))
            }
        }
    }
}

/// Whether and how a response may be compressed.
#[derive(Debug, PartialEq, Eq)]
enum Eligibility {
    /// Never, whatever the client accepts: no Vary either.
    Never,
    /// A 304 for a representation that may be compressed.
    NotModified,
    /// Compressed when the client accepts a coding.
    Compressible,
}

/// Whether `Cache-Control` holds `no-transform` (RFC 9111 §5.2.2.6): no
/// intermediary or server layer may change the content, coding included.
fn has_no_transform(headers: &HeaderMap) -> bool {
    headers.get_all("cache-control").any(|value| {
        value.as_bytes().split(|&b| b == b',').any(|directive| {
            let directive = osprey_proto::chars::trim_ows(directive);
            let name = directive.split(|&b| b == b'=').next().unwrap_or_default();
            osprey_proto::chars::trim_ows(name).eq_ignore_ascii_case(b"no-transform")
        })
    })
}

/// Adds `Accept-Encoding` to `Vary` unless it (or `*`) is there already,
/// merging every existing `Vary` field into one.
fn add_vary_accept_encoding(headers: &mut HeaderMap) {
    let mut merged: Vec<u8> = Vec::new();
    for value in headers.get_all("vary") {
        for member in value.as_bytes().split(|&b| b == b',') {
            let member = osprey_proto::chars::trim_ows(member);
            if member == b"*" || member.eq_ignore_ascii_case(b"accept-encoding") {
                return;
            }
            if !member.is_empty() {
                merged.extend_from_slice(member);
                merged.extend_from_slice(b", ");
            }
        }
    }
    merged.extend_from_slice(b"Accept-Encoding");
    if let Ok(value) = HeaderValue::from_bytes(&merged) {
        headers.insert(HeaderName::VARY, value);
    }
}

/// The fields of a response whose body is now encoded with `coding`.
fn set_encoded_fields(headers: &mut HeaderMap, coding: Coding) {
    headers.insert(
        HeaderName::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    weaken_etag(headers);
    // Ranges would be of the encoded bytes, which are never stored; and a
    // stale identity length must not frame the encoded body.
    headers.remove("accept-ranges");
    headers.remove("content-length");
}

/// Whether the client's `If-None-Match` lists the weak form of the response's
/// strong `ETag`. Entity tags are parsed, not split on commas: `etagc` allows
/// commas inside the quotes (RFC 9110 §8.8.3).
fn holds_encoded(headers: &HeaderMap, if_none_match: &[u8]) -> bool {
    let Some(tag) = headers.get("etag").map(HeaderValue::as_bytes) else {
        return false;
    };
    if !tag.starts_with(b"\"") {
        return false;
    }
    let mut rest = if_none_match;
    loop {
        while let [b' ' | b'\t' | b',', tail @ ..] = rest {
            rest = tail;
        }
        let weak = rest.starts_with(b"W/");
        if weak {
            rest = &rest[2..];
        }
        // `*`, a malformed tag, or the end.
        if !rest.starts_with(b"\"") {
            return false;
        }
        let Some(close) = rest[1..].iter().position(|&b| b == b'"') else {
            return false;
        };
        let (candidate, tail) = rest.split_at(close + 2);
        if weak && candidate == tag {
            return true;
        }
        rest = tail;
    }
}

/// Turns a strong entity tag into a weak one (RFC 9110 §8.8.3).
fn weaken_etag(headers: &mut HeaderMap) {
    let Some(tag) = headers.get("etag") else {
        return;
    };
    if tag.as_bytes().starts_with(b"\"") {
        let mut weak = b"W/".to_vec();
        weak.extend_from_slice(tag.as_bytes());
        if let Ok(value) = HeaderValue::from_bytes(&weak) {
            headers.insert(HeaderName::ETAG, value);
        }
    }
}

/// A running encoder writing into a `Vec` the stream drains.
enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    fn new(coding: Coding, levels: &Levels) -> io::Result<Encoder> {
        Ok(match coding {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(levels.gzip),
            )),
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                levels.brotli,
                levels.brotli_window,
            ))),
            Coding::Zstd => {
                Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), levels.zstd)?)
            }
        })
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(data),
            Encoder::Brotli(e) => e.write_all(data),
            Encoder::Zstd(e) => e.write_all(data),
        }
    }

    /// Emits everything written so far as decodable output (a sync flush).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Brotli(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }

    /// The output produced so far, taken out.
    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(match self {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Brotli(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
        })
    }

    /// Ends the coded stream; returns the rest of the output.
    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            // Writing into a Vec cannot fail, so nothing is lost to
            // into_inner's silence about errors.
            Encoder::Brotli(e) => Ok(e.into_inner()),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

/// Compresses `data` whole.
fn compress_all(coding: Coding, levels: &Levels, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = Encoder::new(coding, levels)?;
    encoder.write(data)?;
    encoder.finish()
}

/// What a compressing stream reads from.
enum Input {
    /// Bytes and file ranges, read a piece at a time.
    Parts(VecDeque<Part>),
    /// The handler's stream, pulled one piece per step.
    Stream(Box<dyn BodySource>),
}

enum EncoderState {
    /// Created on the first pull, so a body that is never pulled (HEAD) costs
    /// no encoder. (Boxed: a deflate state is kilobytes.)
    NotStarted,
    Running(Box<Encoder>),
    Done,
}

/// A body compressed as it is pulled.
struct CompressedStream {
    input: Input,
    state: EncoderState,
    coding: Coding,
    levels: Levels,
    piece_size: usize,
    read_buf: Vec<u8>,
}

impl CompressedStream {
    /// Feeds the encoder the next piece of input (or the end) and returns
    /// what it output, possibly nothing while it gathers a block.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Vec<u8>>> {
        if let EncoderState::NotStarted = self.state {
            match Encoder::new(self.coding, &self.levels) {
                Ok(encoder) => self.state = EncoderState::Running(Box::new(encoder)),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let EncoderState::Running(encoder) = &mut self.state else {
            return Poll::Ready(Ok(Vec::new()));
        };
        let more = match &mut self.input {
            Input::Parts(parts) => feed_part(parts, encoder, &mut self.read_buf, self.piece_size),
            Input::Stream(source) => match source.poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => Ok(false),
                Poll::Ready(Some(Err(e))) => Err(e),
                // Flushed per piece so a live stream (server-sent events)
                // reaches the client as it is produced.
                Poll::Ready(Some(Ok(piece))) if !piece.is_empty() => encoder
                    .write(&piece)
                    .and_then(|()| encoder.flush())
                    .map(|()| true),
                Poll::Ready(Some(Ok(_))) => Ok(true),
            },
        };
        Poll::Ready(match more {
            Ok(true) => Ok(encoder.take_output()),
            Ok(false) => match std::mem::replace(&mut self.state, EncoderState::Done) {
                EncoderState::Running(encoder) => encoder.finish(),
                _ => Ok(Vec::new()),
            },
            Err(e) => Err(e),
        })
    }
}

/// Writes the next piece of `parts` (at most `piece_size` bytes) to the
/// encoder; returns false when there is nothing left.
fn feed_part(
    parts: &mut VecDeque<Part>,
    encoder: &mut Encoder,
    read_buf: &mut Vec<u8>,
    piece_size: usize,
) -> io::Result<bool> {
    loop {
        let Some(part) = parts.front_mut() else {
            return Ok(false);
        };
        match part {
            Part::Bytes(bytes) if !bytes.is_empty() => {
                let piece = bytes.split_to(bytes.len().min(piece_size));
                encoder.write(&piece)?;
            }
            Part::File(file) if file.len > 0 => {
                let want = file.len.min(piece_size as u64) as usize;
                read_buf.resize(want, 0);
                let got = match file.file.read_at(&mut read_buf[..want], file.offset) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the file is shorter than the range to send",
                        ))
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                encoder.write(&read_buf[..got])?;
                file.offset += got as u64;
                file.len -= got as u64;
            }
            _ => {
                parts.pop_front();
                continue;
            }
        }
        if parts.front().is_some_and(Part::is_empty) {
            parts.pop_front();
        }
        return Ok(true);
    }
}

impl BodySource for CompressedStream {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        // Each step consumes input, and an encoder holds back a bounded amount
        // of it (gzip and zstd about a block, 128 KiB for zstd; Brotli up to
        // twice its window), so this loop ends after a bounded amount of reading.
        loop {
            if let EncoderState::Done = self.state {
                return Poll::Ready(None);
            }
            match self.step(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(out)) if out.is_empty() => continue,
                Poll::Ready(Ok(out)) => return Poll::Ready(Some(Ok(Bytes::from(out)))),
                Poll::Ready(Err(e)) => {
                    self.state = EncoderState::Done;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::FileBody;
    use osprey_web::{Handler, Method, Status};
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn pick(value: &str) -> Option<&'static str> {
        parse_accept_encoding([value])
            .best_in(&PREFERENCE)
            .map(Coding::token)
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("gzip", Some("gzip")),
            ("br", Some("br")),
            ("zstd", Some("zstd")),
            ("gzip, br, zstd", Some("zstd")),
            ("gzip, deflate, br", Some("br")),
            ("gzip;q=1.0, br;q=0.5", Some("gzip")),
            ("br;q=0.9, gzip;q=0.95", Some("gzip")),
            ("zstd;q=0, br;q=0, gzip;q=0.001", Some("gzip")),
            ("gzip;q=0", None),
            ("*", Some("zstd")),
            ("*;q=0.5, br", Some("br")),
            ("*;q=0.2, gzip;q=0.1", Some("zstd")),
            ("*;q=0", None),
            ("*;q=0, identity", None),
            ("identity;q=0", None),
            ("identity;q=0, gzip", Some("gzip")),
            ("gzip;q=0.5", Some("gzip")),
            ("gzip;q=0.5, identity", None),
            ("gzip;q=0.5, identity;q=0.5", Some("gzip")),
            ("", None),
            ("deflate, compress", None),
            ("x-gzip", Some("gzip")),
            ("GZIP, BR;Q=0.5", Some("gzip")),
            ("  gzip ;  q=0.7 ,, br\t;q=0.8 ", Some("br")),
            ("gzip;q=abc, br;q=0.1", Some("br")),
            ("gzip;q=2", None),
            ("gzip;q=1.5", None),
            ("gzip;q=0.1234", None),
            ("gzip;q=-1", None),
            ("gzip;q=", None),
            ("gzip;q", None),
            ("gzip;level=9", Some("gzip")),
            ("br;q=0.8, br;q=0", Some("br")),
            (";;;,,,=", None),
            ("\u{fffd}, gzip", Some("gzip")),
        ];
        for (value, want) in cases {
            assert_eq!(pick(value), *want, "Accept-Encoding: {value:?}");
        }
    }

    #[test]
    fn negotiation_respects_disabled_codings_and_missing_header() {
        let only_gzip = Compress::new().zstd(false).brotli(false);
        let req =
            Request::new(Method::Get, "/").with_header("Accept-Encoding", "zstd, br, gzip;q=0.1");
        assert_eq!(only_gzip.negotiate(&req), Some(Coding::Gzip));
        assert_eq!(Compress::new().negotiate(&req), Some(Coding::Zstd));
        let none = Compress::new().zstd(false).brotli(false).gzip(false);
        assert_eq!(none.negotiate(&req), None);
        assert_eq!(
            Compress::new().negotiate(&Request::new(Method::Get, "/")),
            None
        );
        // Several fields are one list (RFC 9110 §5.3).
        let split = Request::new(Method::Get, "/")
            .with_header("Accept-Encoding", "gzip;q=0.5")
            .with_header("accept-encoding", "br");
        assert_eq!(Compress::new().negotiate(&split), Some(Coding::Brotli));
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                b"the quick brown fox jumps over the lazy dog, line "[i % 50]
                    ^ ((i / 997 % 2) as u8)
            })
            .collect()
    }

    fn decode(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Brotli => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Zstd => out = zstd::decode_all(data).unwrap(),
        }
        out
    }

    fn drain(body: Body) -> io::Result<Vec<u8>> {
        match body {
            Body::Bytes(b) => Ok(b.to_vec()),
            Body::Stream(mut s) => {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                let mut out = Vec::new();
                loop {
                    match s.poll_next(&mut cx) {
                        Poll::Ready(Some(Ok(piece))) => {
                            assert!(!piece.is_empty(), "empty pieces are not sent");
                            out.extend_from_slice(&piece);
                        }
                        Poll::Ready(Some(Err(e))) => return Err(e),
                        Poll::Ready(None) => return Ok(out),
                        Poll::Pending => panic!("unexpected Pending"),
                    }
                }
            }
            other => panic!("unexpected body {other:?}"),
        }
    }

    fn accept(coding: Coding) -> Request {
        Request::new(Method::Get, "/").with_header("Accept-Encoding", coding.token())
    }

    fn run(mw: &Compress, req: &mut Request, resp: Response) -> Response {
        let resp = std::sync::Mutex::new(Some(resp));
        let chain =
            osprey_web::Chain::new(move |_: &mut Request| resp.lock().unwrap().take().unwrap());
        chain.with(mw.clone()).respond(req)
    }

    fn temp_file(data: &[u8]) -> (tempfile::NamedTempFile, FileBody) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(data).unwrap();
        let file = Arc::new(f.reopen().unwrap());
        (
            f,
            FileBody {
                file,
                offset: 0,
                len: data.len() as u64,
            },
        )
    }

    #[test]
    fn round_trips_every_coding_and_body_kind() {
        let small = text(10_000);
        let large = text(300_000);
        let (_tmp, file) = temp_file(&large);
        let mw = Compress::new().piece_size(8192);
        for coding in [Coding::Gzip, Coding::Brotli, Coding::Zstd] {
            let kinds: Vec<(&str, Body, Vec<u8>, bool)> = vec![
                (
                    "small bytes",
                    Body::from(small.clone()),
                    small.clone(),
                    true,
                ),
                (
                    "large bytes",
                    Body::from(large.clone()),
                    large.clone(),
                    false,
                ),
                (
                    "file range",
                    Body::File(FileBody {
                        file: file.file.clone(),
                        offset: 1000,
                        len: 200_000,
                    }),
                    large[1000..201_000].to_vec(),
                    false,
                ),
                (
                    "parts",
                    Body::Parts(vec![
                        Part::Bytes(Bytes::from_static(b"--head--\n")),
                        Part::File(file.clone()),
                        Part::Bytes(Bytes::new()),
                        Part::Bytes(Bytes::from_static(b"--tail--\n")),
                    ]),
                    [&b"--head--\n"[..], &large, b"--tail--\n"].concat(),
                    false,
                ),
                (
                    "stream",
                    Body::from_pieces(
                        large
                            .chunks(7000)
                            .map(Bytes::copy_from_slice)
                            .collect::<Vec<_>>()
                            .into_iter(),
                    ),
                    large.clone(),
                    false,
                ),
            ];
            for (kind, body, want, in_memory) in kinds {
                let resp = Response::text("").body(body);
                let resp = run(&mw, &mut accept(coding), resp);
                assert_eq!(
                    resp.headers.get("content-encoding").map(|v| v.as_bytes()),
                    Some(coding.token().as_bytes()),
                    "{coding:?} {kind}"
                );
                assert_eq!(
                    matches!(resp.body, Body::Bytes(_)),
                    in_memory,
                    "{coding:?} {kind}"
                );
                if !in_memory {
                    assert_eq!(resp.body.len_hint(), None, "streamed output is chunked");
                }
                let encoded = drain(resp.body).unwrap();
                assert!(
                    encoded.len() < want.len() / 2,
                    "{coding:?} {kind}: {}",
                    encoded.len()
                );
                assert_eq!(decode(coding, &encoded), want, "{coding:?} {kind}");
            }
        }
    }

    #[test]
    fn pending_replies_are_compressed_when_they_arrive() {
        let page = text(10_000);
        let body = page.clone();
        let app = (move |req: &mut Request| {
            let (timer, body) = (req.timer(), body.clone());
            Reply::pending(async move {
                timer.sleep(std::time::Duration::from_millis(5)).await;
                Response::text(body)
            })
        })
        .with(Compress::new());
        let reply = app.call(&mut accept(Coding::Gzip));
        assert!(!reply.is_ready());
        let r = reply.wait();
        assert_eq!(
            r.headers.get("content-encoding").unwrap().as_bytes(),
            b"gzip"
        );
        assert_eq!(
            r.headers.get("vary").unwrap().as_bytes(),
            b"Accept-Encoding"
        );
        let encoded = drain(r.body).unwrap();
        assert!(encoded.len() < page.len() / 2);
        assert_eq!(decode(Coding::Gzip, &encoded), page);
    }

    #[test]
    fn vary_is_added_once_and_merged() {
        let mw = Compress::new().min_size(10);
        let body = || Body::from(text(2000));
        // A client without Accept-Encoding still gets Vary.
        let r = run(
            &mw,
            &mut Request::new(Method::Get, "/"),
            Response::text("").body(body()),
        );
        assert_eq!(
            r.headers.get("vary").unwrap().as_bytes(),
            b"Accept-Encoding"
        );
        assert!(!r.headers.contains("content-encoding"));
        let r = run(
            &mw,
            &mut accept(Coding::Gzip),
            Response::text("")
                .header("Vary", "Origin")
                .header("vary", "Cookie,")
                .body(body()),
        );
        let vary: Vec<_> = r.headers.get_all("vary").map(|v| v.as_bytes()).collect();
        assert_eq!(vary, [&b"Origin, Cookie, Accept-Encoding"[..]]);
        for present in ["accept-encoding", "Origin, ACCEPT-ENCODING", "*"] {
            let r = run(
                &mw,
                &mut accept(Coding::Gzip),
                Response::text("").header("Vary", present).body(body()),
            );
            let vary: Vec<_> = r.headers.get_all("vary").map(|v| v.as_bytes()).collect();
            assert_eq!(vary, [present.as_bytes()]);
        }
    }

    #[test]
    fn skip_rules() {
        let mw = Compress::new();
        let big = || Body::from(text(5000));
        let cases: Vec<(&str, Response, bool)> = vec![
            (
                "png",
                Response::bytes(HeaderValue::from_static("image/png"), text(5000)),
                false,
            ),
            ("no type", Response::new(Status::OK).body(big()), false),
            ("small", Response::text(text(1000)), false),
            ("empty", Response::text(""), false),
            (
                "204",
                Response::new(Status::NO_CONTENT)
                    .header("Content-Type", "text/plain")
                    .body(big()),
                false,
            ),
            (
                "206",
                Response::text("")
                    .with_status(Status::PARTIAL_CONTENT)
                    .body(big()),
                false,
            ),
            (
                "range",
                Response::text("")
                    .header("Content-Range", "bytes 0-4999/9000")
                    .body(big()),
                false,
            ),
            (
                "encoded",
                Response::text("")
                    .header("Content-Encoding", "gzip")
                    .body(big()),
                false,
            ),
            (
                "no-transform",
                Response::text("")
                    .header("Cache-Control", "public, No-Transform")
                    .body(big()),
                false,
            ),
            (
                "min size exactly",
                Response::text(text(DEFAULT_MIN_SIZE as usize)),
                true,
            ),
            (
                "404 page",
                Response::html(text(5000)).with_status(Status::NOT_FOUND),
                true,
            ),
            (
                "unknown-length stream",
                Response::text("").body(Body::from_pieces(std::iter::once(Bytes::from_static(
                    b"tiny",
                )))),
                true,
            ),
        ];
        for (name, resp, compressed) in cases {
            let had_encoding = resp.headers.get("content-encoding").cloned();
            let r = run(&mw, &mut accept(Coding::Gzip), resp);
            if compressed {
                assert_eq!(
                    r.headers.get("content-encoding").unwrap().as_bytes(),
                    b"gzip",
                    "{name}"
                );
                assert!(r.headers.contains("vary"), "{name}");
            } else {
                assert_eq!(
                    r.headers.get("content-encoding").cloned(),
                    had_encoding,
                    "{name}"
                );
                assert!(
                    !r.headers.contains("vary"),
                    "{name}: Vary only when it could have varied"
                );
            }
        }
        // Incompressible data labelled as text is sent as it is (still Vary).
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4000)
            .map(|_| {
                // xorshift64: bytes without structure for an encoder to find.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 56) as u8
            })
            .collect();
        let r = run(
            &mw,
            &mut accept(Coding::Gzip),
            Response::text(noise.clone()),
        );
        assert!(!r.headers.contains("content-encoding"));
        assert!(r.headers.contains("vary"));
        assert_eq!(drain(r.body).unwrap(), noise);
    }

    #[test]
    fn etags_become_weak_when_encoded() {
        let mw = Compress::new();
        let resp = || {
            Response::text(text(5000))
                .header("ETag", "\"v1\"")
                .header("Accept-Ranges", "bytes")
        };
        let r = run(&mw, &mut accept(Coding::Brotli), resp());
        assert_eq!(r.headers.get("etag").unwrap().as_bytes(), b"W/\"v1\"");
        assert!(!r.headers.contains("accept-ranges"));
        // Not encoded: the tag and Accept-Ranges stay.
        let r = run(&mw, &mut Request::new(Method::Get, "/"), resp());
        assert_eq!(r.headers.get("etag").unwrap().as_bytes(), b"\"v1\"");
        assert!(r.headers.contains("accept-ranges"));
        // Weak already: unchanged.
        let r = run(
            &mw,
            &mut accept(Coding::Gzip),
            Response::text(text(5000)).header("ETag", "W/\"v2\""),
        );
        assert_eq!(r.headers.get("etag").unwrap().as_bytes(), b"W/\"v2\"");
        // A 304 carries the Vary and tag of the response the client holds,
        // which its If-None-Match shows.
        let not_modified = || Response::new(Status::NOT_MODIFIED).header("ETag", "\"v1\"");
        let revalidate = |tags: &str| accept(Coding::Gzip).with_header("If-None-Match", tags);
        for (tags, want) in [
            ("W/\"v1\"", "W/\"v1\""),
            ("\"v0\", W/\"v1\"", "W/\"v1\""),
            ("\"a,W/\", W/\"v1\"", "W/\"v1\""),
            ("\"v1\"", "\"v1\""),
            ("\"a,W/\"v1\"\"", "\"v1\""),
            ("W/\"v2\", *", "\"v1\""),
            ("*", "\"v1\""),
            ("W/\"v1", "\"v1\""),
        ] {
            let r = run(&mw, &mut revalidate(tags), not_modified());
            assert_eq!(
                r.headers.get("etag").unwrap().as_bytes(),
                want.as_bytes(),
                "{tags}"
            );
            assert_eq!(
                r.headers.get("vary").unwrap().as_bytes(),
                b"Accept-Encoding"
            );
            assert!(!r.headers.contains("content-encoding"));
        }
        let r = run(&mw, &mut accept(Coding::Gzip), not_modified());
        assert_eq!(r.headers.get("etag").unwrap().as_bytes(), b"\"v1\"");
        assert!(r.headers.contains("vary"));
        let png_304 = Response::new(Status::NOT_MODIFIED).header("Content-Type", "image/png");
        let r = run(
            &mw,
            &mut revalidate("W/\"v1\""),
            png_304.header("ETag", "\"v1\""),
        );
        assert_eq!(r.headers.get("etag").unwrap().as_bytes(), b"\"v1\"");
        assert!(!r.headers.contains("vary"));
    }

    #[test]
    fn head_gets_the_same_fields_as_get() {
        let mw = Compress::new();
        let get = run(&mw, &mut accept(Coding::Zstd), Response::text(text(5000)));
        let mut head_req = Request::new(Method::Head, "/").with_header("Accept-Encoding", "zstd");
        let head = run(&mw, &mut head_req, Response::text(text(5000)));
        assert_eq!(head.headers, get.headers);
        assert_eq!(head.body.len_hint(), get.body.len_hint());
    }

    /// A stream that hands out scripted results and counts its pulls.
    struct Script {
        steps: VecDeque<Poll<Option<io::Result<Bytes>>>>,
        pulls: Arc<AtomicUsize>,
    }

    impl BodySource for Script {
        fn poll_next(&mut self, _: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
            self.pulls.fetch_add(1, Ordering::SeqCst);
            self.steps.pop_front().unwrap_or(Poll::Ready(None))
        }
    }

    fn script(steps: Vec<Poll<Option<io::Result<Bytes>>>>) -> (Body, Arc<AtomicUsize>) {
        let pulls = Arc::new(AtomicUsize::new(0));
        let body = Body::stream(Script {
            steps: steps.into(),
            pulls: pulls.clone(),
        });
        (body, pulls)
    }

    /// A streaming decoder fed piece by piece.
    enum Decoder {
        Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
        Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
        Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
    }

    impl Decoder {
        fn new(coding: Coding) -> Decoder {
            match coding {
                Coding::Gzip => Decoder::Gzip(Box::new(flate2::write::GzDecoder::new(Vec::new()))),
                Coding::Brotli => {
                    Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096)))
                }
                Coding::Zstd => {
                    Decoder::Zstd(zstd::stream::write::Decoder::new(Vec::new()).unwrap())
                }
            }
        }
        /// Decodes `piece` and returns everything decoded so far.
        fn feed(&mut self, piece: &[u8]) -> Vec<u8> {
            match self {
                Decoder::Gzip(d) => {
                    d.write_all(piece).unwrap();
                    d.flush().unwrap();
                    d.get_ref().clone()
                }
                Decoder::Brotli(d) => {
                    d.write_all(piece).unwrap();
                    d.flush().unwrap();
                    d.get_ref().clone()
                }
                Decoder::Zstd(d) => {
                    d.write_all(piece).unwrap();
                    d.flush().unwrap();
                    d.get_ref().clone()
                }
            }
        }
    }

    #[test]
    fn stream_pieces_are_flushed_pulled_one_at_a_time_and_pending_passes_through() {
        for coding in [Coding::Gzip, Coding::Brotli, Coding::Zstd] {
            let (body, pulls) = script(vec![
                Poll::Ready(Some(Ok(Bytes::from_static(b"data: first event\n\n")))),
                Poll::Pending,
                Poll::Ready(Some(Ok(Bytes::new()))),
                Poll::Ready(Some(Ok(Bytes::from_static(b"data: second event\n\n")))),
                Poll::Ready(None),
            ]);
            let r = run(
                &Compress::new(),
                &mut accept(coding),
                Response::text("").body(body),
            );
            let Body::Stream(mut s) = r.body else {
                panic!("not a stream")
            };
            assert_eq!(
                pulls.load(Ordering::SeqCst),
                0,
                "nothing pulled before the server pulls"
            );
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let mut decoder = Decoder::new(coding);
            let Poll::Ready(Some(Ok(first))) = s.poll_next(&mut cx) else {
                panic!("first piece")
            };
            assert_eq!(
                pulls.load(Ordering::SeqCst),
                1,
                "one inner piece per outer piece"
            );
            // Decodable before the stream ends.
            assert_eq!(decoder.feed(&first), b"data: first event\n\n", "{coding:?}");
            assert!(s.poll_next(&mut cx).is_pending());
            assert_eq!(pulls.load(Ordering::SeqCst), 2);
            let Poll::Ready(Some(Ok(second))) = s.poll_next(&mut cx) else {
                panic!("second piece")
            };
            assert_eq!(
                pulls.load(Ordering::SeqCst),
                4,
                "the empty piece is skipped"
            );
            assert_eq!(
                decoder.feed(&second),
                b"data: first event\n\ndata: second event\n\n"
            );
            let Poll::Ready(Some(Ok(end))) = s.poll_next(&mut cx) else {
                panic!("the coding's end")
            };
            decoder.feed(&end);
            assert!(matches!(s.poll_next(&mut cx), Poll::Ready(None)));
            let all = [first, second, end].concat();
            assert_eq!(
                decode(coding, &all),
                b"data: first event\n\ndata: second event\n\n"
            );
        }
    }

    #[test]
    fn inner_errors_end_the_stream_with_an_error() {
        let (body, _) = script(vec![
            Poll::Ready(Some(Ok(Bytes::from_static(b"partial")))),
            Poll::Ready(Some(Err(io::Error::other("producer failed")))),
            Poll::Ready(Some(Ok(Bytes::from_static(b"never")))),
        ]);
        let r = run(
            &Compress::new(),
            &mut accept(Coding::Gzip),
            Response::text("").body(body),
        );
        let err = drain(r.body).unwrap_err();
        assert_eq!(err.to_string(), "producer failed");
        // A file shorter than its range is an error too, not a short body.
        let (_tmp, mut file) = temp_file(&text(3000));
        file.len = 10_000;
        let r = run(
            &Compress::new(),
            &mut accept(Coding::Zstd),
            Response::text("").body(Body::File(file)),
        );
        assert_eq!(
            drain(r.body).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn files_are_read_a_piece_at_a_time() {
        let data = text(2_000_000);
        let (_tmp, file) = temp_file(&data);
        for coding in [Coding::Gzip, Coding::Brotli, Coding::Zstd] {
            let mut s = CompressedStream {
                input: Input::Parts(VecDeque::from([Part::File(file.clone())])),
                state: EncoderState::NotStarted,
                coding,
                levels: Compress::new().brotli_window_bits(16).levels,
                piece_size: 4096,
                read_buf: Vec::new(),
            };
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let Poll::Ready(Some(Ok(first))) = s.poll_next(&mut cx) else {
                panic!("first piece")
            };
            assert!(!first.is_empty());
            // The first output came long before the whole file was read, and
            // the read buffer never grew past a piece.
            let Input::Parts(parts) = &s.input else {
                unreachable!()
            };
            let Some(Part::File(left)) = parts.front() else {
                panic!("{coding:?}: the whole file was read for the first piece")
            };
            // zstd emits per 128 KiB block; Brotli gathers up to twice its
            // window (2^16 here) before emitting.
            assert!(
                left.offset <= 3 << 16,
                "{coding:?} read {} bytes",
                left.offset
            );
            assert!(s.read_buf.capacity() <= 2 * 4096);
            let rest = drain(Body::stream(s)).unwrap();
            assert_eq!(decode(coding, &[&first[..], &rest].concat()), data);
        }
    }
}
