//! Every bound the HTTP/2 connection enforces and every SETTINGS value it
//! advertises, with production defaults.
//!
//! Each is a named constant so documentation, the server's configuration and
//! the tests refer to one number; [`Config`] gathers them into one value a
//! server can override field by field.

/// SETTINGS_MAX_CONCURRENT_STREAMS advertised and enforced (RFC 9113 §5.1.2):
/// a stream opened beyond it is refused with REFUSED_STREAM. 100 is the
/// RFC's recommended minimum and what most servers use.
pub const MAX_CONCURRENT_STREAMS: u32 = 100;

/// SETTINGS_INITIAL_WINDOW_SIZE advertised: how much request content a client
/// may send on one stream before the application has consumed any. 256 KiB
/// lets an upload reach a few Mbit/s over a 100 ms path without stalls while
/// bounding what a stream can make the server hold.
pub const INITIAL_WINDOW_SIZE: u32 = 256 * 1024;

/// The connection-level receive window (RFC 9113 §6.9.2 starts it at 65,535;
/// a WINDOW_UPDATE right after our SETTINGS raises it): the most request
/// content buffered for all streams together.
pub const CONNECTION_WINDOW_SIZE: u32 = 1024 * 1024;

/// SETTINGS_MAX_FRAME_SIZE advertised: the largest frame payload accepted.
/// 16 KiB is the protocol's initial value; larger frames save little.
pub const MAX_FRAME_SIZE: u32 = 16 * 1024;

/// SETTINGS_HEADER_TABLE_SIZE advertised: the HPACK table the client's encoder
/// may use against our decoder (RFC 7541 §4.2). The protocol default, 4 KiB.
pub const HEADER_TABLE_SIZE: u32 = 4096;

/// The most HPACK table our encoder uses, whatever the client allows: memory
/// spent per connection on compressing responses.
pub const ENCODER_TABLE_SIZE: u32 = 4096;

/// SETTINGS_MAX_HEADER_LIST_SIZE advertised and enforced: the decoded size of
/// a request's fields, counted as RFC 9113 §6.5.2 does (name + value + 32
/// each). A request beyond it is answered 431 on its stream. 32 KiB, as
/// osprey-h1's `MAX_HEAD`.
pub const MAX_HEADER_LIST_SIZE: u32 = 32 * 1024;

/// The most compressed field-block octets (HEADERS plus its CONTINUATION
/// frames) buffered before the block is complete. Beyond it the connection is
/// closed with ENHANCE_YOUR_CALM: an unbounded CONTINUATION sequence is the
/// "CONTINUATION flood" of 2024.
pub const MAX_HEADER_BLOCK_SIZE: usize = 64 * 1024;

/// Streams the peer may reset (RST_STREAM before our response ended) beyond
/// those that completed normally; one more is answered with GOAWAY
/// ENHANCE_YOUR_CALM. This bounds CVE-2023-44487 ("rapid reset"), where a
/// client opens and cancels streams to make the server start work it never
/// finishes. Each stream completed normally gives one back.
pub const MAX_PEER_RESETS: u32 = 200;

/// Streams we may reset for the peer's stream errors (malformed requests, flow
/// control on a stream, refused streams) beyond those completed normally;
/// bounds the reset flood of CVE-2019-9514.
pub const MAX_LOCAL_RESETS: u32 = 200;

/// Replies to the peer's control frames (SETTINGS ACK, PING ACK, RST_STREAM)
/// queued in the output and not yet taken by the caller. A peer that sends
/// PINGs or SETTINGS but does not read makes this grow; past the bound the
/// connection is closed with ENHANCE_YOUR_CALM (CVE-2019-9512, -9515).
pub const MAX_PENDING_CONTROL: usize = 1024;

/// SETTINGS, PING, PRIORITY and unknown-type frames accepted in a row without
/// the peer doing anything useful (opening a stream, sending content). Past it,
/// GOAWAY ENHANCE_YOUR_CALM. Browsers send a handful at most.
pub const MAX_IDLE_CONTROL_FRAMES: u32 = 1000;

/// Empty DATA frames without END_STREAM and empty HEADERS/CONTINUATION
/// fragments without END_HEADERS accepted in a row without useful work. They
/// cost the server a frame's processing and give nothing (CVE-2019-9518).
pub const MAX_EMPTY_FRAMES: u32 = 100;

/// Streams we reset remembered, so frames the peer sent before it saw our
/// RST_STREAM are ignored (RFC 9113 §5.4.2) instead of treated as errors.
pub const RESET_STREAMS_REMEMBERED: usize = 256;

/// How the connection is set up. [`Config::default`] gives the constants above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// See [`MAX_CONCURRENT_STREAMS`].
    pub max_concurrent_streams: u32,
    /// See [`INITIAL_WINDOW_SIZE`]; at most 2^31-1.
    pub initial_window_size: u32,
    /// See [`CONNECTION_WINDOW_SIZE`]; at least 65,535, at most 2^31-1.
    pub connection_window_size: u32,
    /// See [`MAX_FRAME_SIZE`]; 16,384..=16,777,215.
    pub max_frame_size: u32,
    /// See [`HEADER_TABLE_SIZE`].
    pub header_table_size: u32,
    /// See [`ENCODER_TABLE_SIZE`].
    pub encoder_table_size: u32,
    /// See [`MAX_HEADER_LIST_SIZE`].
    pub max_header_list_size: u32,
    /// See [`MAX_HEADER_BLOCK_SIZE`].
    pub max_header_block_size: usize,
    /// Advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441) and accept
    /// extended CONNECT requests with `:protocol` (WebSockets over HTTP/2).
    pub enable_connect_protocol: bool,
    /// See [`MAX_PEER_RESETS`].
    pub max_peer_resets: u32,
    /// See [`MAX_LOCAL_RESETS`].
    pub max_local_resets: u32,
    /// See [`MAX_PENDING_CONTROL`].
    pub max_pending_control: usize,
    /// See [`MAX_IDLE_CONTROL_FRAMES`].
    pub max_idle_control_frames: u32,
    /// See [`MAX_EMPTY_FRAMES`].
    pub max_empty_frames: u32,
    /// See [`RESET_STREAMS_REMEMBERED`].
    pub reset_streams_remembered: usize,
    /// Response field names (lowercase) always sent as never-indexed HPACK
    /// literals, on top of `authorization`, `proxy-authorization` and short
    /// `cookie` values (RFC 7541 §7.1.3).
    pub sensitive_headers: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_concurrent_streams: MAX_CONCURRENT_STREAMS,
            initial_window_size: INITIAL_WINDOW_SIZE,
            connection_window_size: CONNECTION_WINDOW_SIZE,
            max_frame_size: MAX_FRAME_SIZE,
            header_table_size: HEADER_TABLE_SIZE,
            encoder_table_size: ENCODER_TABLE_SIZE,
            max_header_list_size: MAX_HEADER_LIST_SIZE,
            max_header_block_size: MAX_HEADER_BLOCK_SIZE,
            enable_connect_protocol: false,
            max_peer_resets: MAX_PEER_RESETS,
            max_local_resets: MAX_LOCAL_RESETS,
            max_pending_control: MAX_PENDING_CONTROL,
            max_idle_control_frames: MAX_IDLE_CONTROL_FRAMES,
            max_empty_frames: MAX_EMPTY_FRAMES,
            reset_streams_remembered: RESET_STREAMS_REMEMBERED,
            sensitive_headers: Vec::new(),
        }
    }
}
