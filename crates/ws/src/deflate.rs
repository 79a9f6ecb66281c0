//! permessage-deflate (RFC 7692): negotiation from the client's offers, and
//! the per-connection compressor and decompressor.
//!
//! Negotiation ([`negotiate`]) takes the first `permessage-deflate` offer we
//! can accept within [`DeflateSettings`]. An offer with an unknown parameter,
//! a repeated one, or a bad value is declined (RFC 7692 §5, §7.1), and the
//! next one looked at; when none is acceptable the connection goes ahead
//! uncompressed. We never refuse the handshake over an extension offer: an
//! extension is optional to the client by construction, and failing it would
//! only lose a connection the client can run without compression. (A header
//! that breaks the §9.1 grammar itself is refused with 400 by the handshake.)
//!
//! Messages (§7.2): the sender compresses the message's payload with a sync
//! flush and drops the final `00 00 ff ff`; the receiver appends it back and
//! inflates. RSV1 marks the first frame of a compressed message (§6). Without
//! context takeover each message is compressed on its own, the compressor
//! reset after every message (§7.1.1).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::ProtocolError;
use crate::extension::Extension;
use crate::limits::{DeflateSettings, INFLATE_CHUNK};

/// The extension's registered name (RFC 7692 §7).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The block a sync flush ends with, removed from compressed messages and
/// appended back before inflating (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What was agreed for one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// We reset our compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message (so we reset our
    /// decompressor).
    pub client_no_context_takeover: bool,
    /// The window we compress within (8 to 15; 8 is compressed with zlib's
    /// 9, whose matches reach back at most 250 bytes).
    pub server_max_window_bits: u8,
    /// The window the client compresses within (8 to 15); we inflate with
    /// it (9 for 8: a larger window always decodes a smaller one's output).
    pub client_max_window_bits: u8,
    /// `server_max_window_bits` goes in the response.
    announce_server_bits: bool,
    /// `client_max_window_bits` goes in the response.
    announce_client_bits: bool,
}

impl DeflateParams {
    /// The accepted extension, for the `Sec-WebSocket-Extensions` response
    /// header (RFC 7692 §7.1).
    pub fn response(&self) -> Extension {
        let mut e = Extension::new(EXTENSION_NAME);
        if self.server_no_context_takeover {
            e = e.param("server_no_context_takeover", None);
        }
        if self.client_no_context_takeover {
            e = e.param("client_no_context_takeover", None);
        }
        if self.announce_server_bits {
            let v = self.server_max_window_bits.to_string();
            e = e.param("server_max_window_bits", Some(&v));
        }
        if self.announce_client_bits {
            let v = self.client_max_window_bits.to_string();
            e = e.param("client_max_window_bits", Some(&v));
        }
        e
    }
}

/// A window size parameter's value: `8` to `15`, decimal, no leading zero
/// (RFC 7692 §7.1.2.1, §7.1.2.2).
fn window_bits(v: &str) -> Option<u8> {
    match v {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => v.parse().ok(),
        _ => None,
    }
}

/// The first offer in `offers` we accept, and what we answer; `None` when
/// compression is off or no offer is acceptable (see the module docs).
pub fn negotiate(offers: &[Extension], settings: &DeflateSettings) -> Option<DeflateParams> {
    if !settings.enabled {
        return None;
    }
    offers
        .iter()
        .filter(|o| o.name.eq_ignore_ascii_case(EXTENSION_NAME))
        .find_map(|o| accept(o, settings))
}

fn accept(offer: &Extension, settings: &DeflateSettings) -> Option<DeflateParams> {
    let mut server_nct = false;
    let mut client_nct = false;
    let mut server_bits: Option<u8> = None;
    // None: absent; Some(None): present without a value.
    let mut client_bits: Option<Option<u8>> = None;
    for (name, value) in &offer.params {
        // §7.1: an unknown parameter, a repeated one or an invalid value
        // make us decline the offer.
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if !server_nct && value.is_none() => server_nct = true,
            "client_no_context_takeover" if !client_nct && value.is_none() => client_nct = true,
            "server_max_window_bits" if server_bits.is_none() => {
                server_bits = Some(window_bits(value.as_deref()?)?);
            }
            "client_max_window_bits" if client_bits.is_none() => {
                client_bits = Some(match value {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    // §7.1.2.1: we compress within the client's limit and ours, and may
    // announce a limit the client did not ask for.
    let ours = settings.server_max_window_bits.clamp(8, 15);
    let server = ours.min(server_bits.unwrap_or(15));
    let announce_server_bits = server_bits.is_some() || server < 15;
    // §7.1.2.2: we may only limit the client's window if it offered
    // client_max_window_bits; without it, an offer is acceptable only if we
    // accept the full 32 KiB window.
    let ours = settings.client_max_window_bits.clamp(8, 15);
    let (client, announce_client_bits) = match client_bits {
        None if ours < 15 => return None,
        None => (15, false),
        Some(None) => (ours, ours < 15),
        Some(Some(v)) => (ours.min(v), ours < v),
    };
    Some(DeflateParams {
        // §7.1.1.1: a client asking for server_no_context_takeover gets it;
        // we may also choose it ourselves.
        server_no_context_takeover: server_nct || settings.server_no_context_takeover,
        // §7.1.1.2: the client's offer of client_no_context_takeover is only
        // a hint; what binds it is our response.
        client_no_context_takeover: settings.client_no_context_takeover,
        server_max_window_bits: server,
        client_max_window_bits: client,
        announce_server_bits,
        announce_client_bits,
    })
}

/// zlib cannot make raw deflate with a 256-byte window (RFC 7692 §7.1.2.1
/// allows 8); it uses 9 instead, keeping matches within 250 bytes, so its
/// output still fits an 8-bit window. Decompressing with 9 is always safe.
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// The compressor and decompressor of one connection, made when first needed
/// and kept (reset between messages without context takeover): their memory
/// is fixed per connection.
pub(crate) struct Codec {
    params: DeflateParams,
    level: Compression,
    min_size: usize,
    deflater: Option<Compress>,
    inflater: Option<Decompress>,
    /// Where the inflater writes, [`INFLATE_CHUNK`] at a time.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Codec {
    pub(crate) fn new(params: DeflateParams, settings: &DeflateSettings) -> Codec {
        Codec {
            params,
            level: Compression::new(settings.level.min(9)),
            min_size: settings.min_size,
            deflater: None,
            inflater: None,
            scratch: Vec::new(),
        }
    }

    /// Whether a whole message of `len` bytes is worth compressing.
    pub(crate) fn worth_compressing(&self, len: usize) -> bool {
        len >= self.min_size
    }

    /// Inflates the next compressed bytes of a message, handing the output to
    /// `sink` at most [`INFLATE_CHUNK`] bytes at a time. `sink` checks the
    /// size limit, so a compression bomb stops one chunk past it.
    pub(crate) fn inflate(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let bits = zlib_bits(self.params.client_max_window_bits);
        let d = self
            .inflater
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        if self.scratch.len() != INFLATE_CHUNK {
            self.scratch = vec![0; INFLATE_CHUNK];
        }
        loop {
            let (in0, out0) = (d.total_in(), d.total_out());
            let status = d
                .decompress(input, &mut self.scratch, FlushDecompress::None)
                .map_err(|_| ProtocolError::invalid_payload("invalid compressed data"))?;
            let consumed = (d.total_in() - in0) as usize;
            let produced = (d.total_out() - out0) as usize;
            input = &input[consumed..];
            if produced > 0 {
                sink(&self.scratch[..produced])?;
            }
            if status == Status::StreamEnd {
                // A final block (BFINAL, §7.2.3.4 allows it): what follows is
                // a new deflate stream.
                d.reset(false);
                if input.is_empty() {
                    return Ok(());
                }
                continue;
            }
            let full = produced == self.scratch.len();
            if (input.is_empty() && !full) || (consumed == 0 && produced == 0) {
                return Ok(());
            }
        }
    }

    /// The message ended: inflates the removed tail (§7.2.2) and resets the
    /// decompressor if the client compresses every message on its own.
    pub(crate) fn finish_inflate(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        self.inflate(&TAIL, sink)?;
        if self.params.client_no_context_takeover {
            if let Some(d) = &mut self.inflater {
                d.reset(false);
            }
        }
        Ok(())
    }

    /// Compresses the next piece of an outgoing message, appending to `out`
    /// (§7.2.1): a sync flush after every piece, so each can go out as a
    /// frame; after the last one the trailing `00 00 ff ff` is removed and,
    /// without context takeover, the compressor reset.
    pub(crate) fn compress(&mut self, mut input: &[u8], fin: bool, out: &mut Vec<u8>) {
        let bits = zlib_bits(self.params.server_max_window_bits);
        let level = self.level;
        let c = self
            .deflater
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        let start = out.len();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve((input.len() / 2).max(1024));
            }
            let in0 = c.total_in();
            if c.compress_vec(input, out, FlushCompress::Sync).is_err() {
                // Cannot happen with a stream used only here; if it did, the
                // stream is lost: start a new one and send this piece stored.
                c.reset();
                out.truncate(start);
                out.extend_from_slice(&stored_block(input));
                break;
            }
            input = &input[(c.total_in() - in0) as usize..];
            // zlib: the flush is complete when output space is left over.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if fin {
            // §7.2.1: the data must end with an empty stored block, whose
            // last 4 octets are then removed. A sync flush ends with one,
            // except when there was nothing to flush (an empty message right
            // after another): zlib then writes nothing, the stream is at a
            // byte boundary, and the block is `00 00 00 ff ff`, which leaves
            // `00` (§7.2.3.6). An empty payload would leave the peer's
            // inflater inside a stored block.
            if out[start..].ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            } else {
                out.push(0x00);
            }
            if self.params.server_no_context_takeover {
                c.reset();
            }
        }
    }
}

/// `data` as raw deflate stored blocks ending in the sync-flush marker, for
/// the unreachable compressor failure above.
fn stored_block(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 5 * (data.len() / 65535 + 2));
    for chunk in data.chunks(65535) {
        let n = chunk.len() as u16;
        v.push(0x00);
        v.extend_from_slice(&n.to_le_bytes());
        v.extend_from_slice(&(!n).to_le_bytes());
        v.extend_from_slice(chunk);
    }
    v.extend_from_slice(&TAIL);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(s: &str) -> Vec<Extension> {
        crate::extension::parse_extensions([s.as_bytes()]).unwrap()
    }

    fn answer(s: &str, settings: &DeflateSettings) -> Option<String> {
        negotiate(&offer(s), settings).map(|p| p.response().to_string())
    }

    #[test]
    fn negotiation() {
        let d = DeflateSettings::default();
        let a = |s: &str| answer(s, &d);
        assert_eq!(
            a("permessage-deflate").as_deref(),
            Some("permessage-deflate")
        );
        // The Autobahn client's default offer.
        assert_eq!(
            a("permessage-deflate; client_no_context_takeover; client_max_window_bits").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            a("permessage-deflate; server_no_context_takeover").as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        assert_eq!(
            a("permessage-deflate; server_max_window_bits=8").as_deref(),
            Some("permessage-deflate; server_max_window_bits=8")
        );
        assert_eq!(
            a("permessage-deflate; client_max_window_bits=10").as_deref(),
            Some("permessage-deflate")
        );
        let p = negotiate(&offer("permessage-deflate; client_max_window_bits=10"), &d).unwrap();
        assert_eq!(p.client_max_window_bits, 10);
        // Invalid, duplicate or unknown parameters decline the offer; the
        // next acceptable one is taken.
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
            "permessage-deflate; mystery",
        ] {
            assert_eq!(a(bad), None, "{bad}");
            let two = format!("{bad}, permessage-deflate; server_max_window_bits=12");
            assert_eq!(
                a(&two).as_deref(),
                Some("permessage-deflate; server_max_window_bits=12"),
                "{two}"
            );
        }
        assert_eq!(a("x-webkit-deflate-frame"), None);
        // Quoted values are values (§9.1).
        assert_eq!(
            a("permessage-deflate; server_max_window_bits=\"10\"").as_deref(),
            Some("permessage-deflate; server_max_window_bits=10")
        );
    }

    #[test]
    fn negotiation_within_our_settings() {
        let d = DeflateSettings {
            server_max_window_bits: 10,
            client_max_window_bits: 11,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateSettings::default()
        };
        // We can only limit the client's window when it offers the parameter.
        assert_eq!(answer("permessage-deflate", &d), None);
        assert_eq!(
            answer("permessage-deflate; client_max_window_bits", &d).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=11"
            )
        );
        assert_eq!(
            answer(
                "permessage-deflate; client_max_window_bits=9; server_max_window_bits=12",
                &d
            )
            .as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10"
            )
        );
        let off = DeflateSettings {
            enabled: false,
            ..DeflateSettings::default()
        };
        assert_eq!(answer("permessage-deflate", &off), None);
    }

    fn params(server_nct: bool, client_nct: bool) -> DeflateParams {
        let mut p = negotiate(&offer("permessage-deflate"), &DeflateSettings::default()).unwrap();
        p.server_no_context_takeover = server_nct;
        p.client_no_context_takeover = client_nct;
        p
    }

    fn inflate_all(c: &mut Codec, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        c.inflate(data, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        c.finish_inflate(&mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn rfc_7692_7_2_3_1_hello() {
        let mut c = Codec::new(params(false, false), &DeflateSettings::default());
        assert_eq!(
            inflate_all(&mut c, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
        let mut out = Vec::new();
        let mut c = Codec::new(params(false, false), &DeflateSettings::default());
        c.compress(b"Hello", true, &mut out);
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    }

    #[test]
    fn rfc_7692_7_2_3_2_context_takeover() {
        // The second "Hello" refers back to the first.
        let mut c = Codec::new(params(false, false), &DeflateSettings::default());
        assert_eq!(
            inflate_all(&mut c, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
        assert_eq!(
            inflate_all(&mut c, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
            b"Hello"
        );
        // Our compressor does the same with context takeover...
        let mut c = Codec::new(params(false, false), &DeflateSettings::default());
        let mut first = Vec::new();
        c.compress(b"Hello", true, &mut first);
        let mut second = Vec::new();
        c.compress(b"Hello", true, &mut second);
        assert_eq!(second, [0xf2, 0x00, 0x11, 0x00, 0x00]);
        // ...and not without it.
        let mut c = Codec::new(params(true, false), &DeflateSettings::default());
        let mut first = Vec::new();
        c.compress(b"Hello", true, &mut first);
        let mut second = Vec::new();
        c.compress(b"Hello", true, &mut second);
        assert_eq!(second, first);
    }

    #[test]
    fn rfc_7692_7_2_3_3_stored_block_and_7_2_3_4_bfinal() {
        // "Hello" in a stored (uncompressed) block.
        let mut c = Codec::new(params(false, false), &DeflateSettings::default());
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(inflate_all(&mut c, &stored), b"Hello");
        // BFINAL set: the tail we append starts a new stream.
        let mut c = Codec::new(params(false, false), &DeflateSettings::default());
        let fin = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(inflate_all(&mut c, &fin), b"Hello");
        assert_eq!(
            inflate_all(&mut c, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            b"Hello"
        );
    }

    #[test]
    fn round_trip_all_windows() {
        let text: Vec<u8> = (0..200_000u32)
            .map(|i| b"the quick brown fox "[(i % 20) as usize] ^ ((i / 997) as u8 & 1))
            .collect();
        for bits in 8..=15u8 {
            let mut p = params(false, false);
            p.server_max_window_bits = bits;
            p.client_max_window_bits = bits;
            let mut c = Codec::new(p, &DeflateSettings::default());
            for _ in 0..3 {
                let mut z = Vec::new();
                c.compress(&text, true, &mut z);
                assert!(z.len() < text.len() / 4, "bits {bits}: {}", z.len());
                assert_eq!(inflate_all(&mut c, &z), text, "bits {bits}");
            }
        }
    }

    #[test]
    fn empty_messages_are_one_zero_octet() {
        // §7.2.3.6. Whatever came before, an empty message leaves the
        // peer's inflater where it was.
        for first in [&b""[..], b"Hello"] {
            let mut c = Codec::new(params(false, false), &DeflateSettings::default());
            let mut d = Codec::new(params(false, false), &DeflateSettings::default());
            let mut z = Vec::new();
            c.compress(first, true, &mut z);
            assert_eq!(inflate_all(&mut d, &z), first);
            for _ in 0..3 {
                let mut z = Vec::new();
                c.compress(b"", true, &mut z);
                assert_eq!(z, [0x00]);
                assert_eq!(inflate_all(&mut d, &z), b"");
            }
            let mut z = Vec::new();
            c.compress(b"after", true, &mut z);
            assert_eq!(inflate_all(&mut d, &z), b"after");
        }
    }

    #[test]
    fn garbage_is_1007() {
        let mut c = Codec::new(params(false, false), &DeflateSettings::default());
        let r = c.inflate(&[0xff, 0xff, 0xff, 0xff], &mut |_| Ok(()));
        assert_eq!(r.unwrap_err().code, crate::CloseCode::INVALID_PAYLOAD);
    }

    #[test]
    fn the_fallback_is_a_valid_stream() {
        let data = vec![7u8; 70_000];
        let mut c = Codec::new(params(false, false), &DeflateSettings::default());
        let mut s = stored_block(&data);
        s.truncate(s.len() - 4);
        assert_eq!(inflate_all(&mut c, &s), data);
    }
}
