//! Every bound the WebSocket machine enforces, with production defaults.
//!
//! Each limit is a named constant so the docs, the server's configuration and
//! the tests refer to the same number; [`Settings`] gathers them (and the
//! permessage-deflate choices, [`DeflateSettings`]) into one value a server can
//! override field by field.

/// Largest payload of one incoming frame (close 1009 beyond, RFC 6455 §7.4.1).
/// Payloads are streamed, so this does not bound memory by itself; it stops a
/// peer from announcing a 2^63-byte frame and holding the connection forever.
/// 16 MiB matches the largest single frame the Autobahn testsuite sends
/// (cases 9.1.6 and 9.2.6).
pub const MAX_FRAME: u64 = 16 * 1024 * 1024;

/// Largest incoming message, after decompression (close 1009 beyond). Whole
/// messages are assembled in memory, so this is the per-connection memory
/// bound for a message in progress. 16 MiB: the Autobahn testsuite's largest
/// message (cases 9.x); a server that only exchanges small JSON lowers it.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Outgoing messages larger than this are split into frames of at most this
/// many payload bytes (RFC 6455 §5.4). `0` turns the splitting off: a message
/// goes out as one frame. Off by default: every peer must accept large frames,
/// and one frame is the cheapest to write.
pub const SEND_FRAGMENT: usize = 0;

/// Most subprotocols or extension offers a handshake may carry (400 beyond).
/// Real clients offer one to three; the bound keeps a handshake's parsed form
/// small whatever the head size limit allows.
pub const MAX_OFFERS: usize = 32;

/// Most parameters one extension offer may carry (the offer is malformed
/// beyond, and the handshake answered 400). permessage-deflate defines four.
pub const MAX_EXTENSION_PARAMS: usize = 16;

/// Largest piece the inflater writes at a time: decompressed output is checked
/// against [`MAX_MESSAGE`] after each piece, so a compression bomb is stopped
/// with at most this much past the limit, never inflated whole.
pub const INFLATE_CHUNK: usize = 16 * 1024;

/// Whether permessage-deflate (RFC 7692) is accepted when a client offers it.
pub const DEFLATE_ENABLED: bool = true;

/// Largest LZ77 window (as a power of two) we compress with, and the most we
/// let a client use for what it sends us (RFC 7692 §7.1.2). 15 (32 KiB) is the
/// deflate maximum and what every client assumes when nothing is said.
pub const DEFLATE_WINDOW_BITS: u8 = 15;

/// Outgoing messages shorter than this are sent uncompressed (RFC 7692 §6 lets
/// a sender choose per message): deflating a few bytes costs more than it
/// saves.
pub const DEFLATE_MIN_SIZE: usize = 64;

/// zlib compression level, 0 (store) to 9 (smallest). 6 is zlib's default.
pub const DEFLATE_LEVEL: u32 = 6;

/// How the connection machine behaves: limits, outgoing framing and
/// compression. [`Settings::default`] gives the constants of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// See [`MAX_FRAME`].
    pub max_frame: u64,
    /// See [`MAX_MESSAGE`].
    pub max_message: usize,
    /// See [`SEND_FRAGMENT`].
    pub send_fragment: usize,
    /// Deliver data messages as they arrive ([`crate::Event::Fragment`])
    /// instead of whole ([`crate::Event::Text`], [`crate::Event::Binary`]).
    /// A message is then never held in memory; [`Settings::max_message`]
    /// still bounds its total size. Off by default.
    pub streaming: bool,
    /// permessage-deflate (RFC 7692).
    pub deflate: DeflateSettings,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_frame: MAX_FRAME,
            max_message: MAX_MESSAGE,
            send_fragment: SEND_FRAGMENT,
            streaming: false,
            deflate: DeflateSettings::default(),
        }
    }
}

/// What we accept of permessage-deflate (RFC 7692) and how we compress.
///
/// Memory: a connection with compression negotiated holds one inflater (its
/// window, `2^client window bits` bytes, about 7 KiB of tables and an
/// [`INFLATE_CHUNK`] buffer) and one deflater (its window and match chains,
/// `4 * 2^server window bits` bytes, plus fixed tables of about 190 KiB at
/// zlib's default memory level). Measured: about 345 KiB per connection at
/// window 15, 200 KiB at window 9. Each is allocated when the first
/// compressed message needs it and kept for the connection's life (reset
/// between messages without context takeover), so the bound is fixed per
/// connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateSettings {
    /// See [`DEFLATE_ENABLED`].
    pub enabled: bool,
    /// The largest window we compress with (8 to 15, see
    /// [`DEFLATE_WINDOW_BITS`]). Below 15 it is announced to the client as
    /// `server_max_window_bits`. zlib cannot make raw deflate with an 8-bit
    /// window and uses 9 instead; its matches then still reach back at most
    /// 250 bytes, within the 256 a client allowing 8 keeps.
    pub server_max_window_bits: u8,
    /// The largest window we let the client compress with (8 to 15). Below 15
    /// it is sent as `client_max_window_bits`, which only works when the client
    /// offered that parameter (RFC 7692 §7.1.2.2); an offer without it is then
    /// declined.
    pub client_max_window_bits: u8,
    /// Compress every message on its own (`server_no_context_takeover`):
    /// worse compression, no dependence between messages. We also agree to it
    /// whenever a client asks.
    pub server_no_context_takeover: bool,
    /// Ask the client to compress every message on its own
    /// (`client_no_context_takeover`).
    pub client_no_context_takeover: bool,
    /// See [`DEFLATE_MIN_SIZE`].
    pub min_size: usize,
    /// See [`DEFLATE_LEVEL`].
    pub level: u32,
}

impl Default for DeflateSettings {
    fn default() -> DeflateSettings {
        DeflateSettings {
            enabled: DEFLATE_ENABLED,
            server_max_window_bits: DEFLATE_WINDOW_BITS,
            client_max_window_bits: DEFLATE_WINDOW_BITS,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            min_size: DEFLATE_MIN_SIZE,
            level: DEFLATE_LEVEL,
        }
    }
}
