//! Padding (RFC 9113 §6.1, §6.2, §6.6): the PADDED flag, a Pad Length octet at
//! the start of the payload and that many octets of zeros at its end.
//!
//! DATA, HEADERS and PUSH_PROMISE share the rule, so it lives here once.

use bytes::{BufMut, Bytes};

use crate::error::{Error, ErrorCode};

/// Removes padding from `payload` when `padded` is set. Returns the unpadded
/// content and the pad length that was present.
///
/// RFC 9113 §6.1: "If the length of the padding is the length of the frame
/// payload or greater, the recipient MUST treat this as a connection error of
/// type PROTOCOL_ERROR." A PADDED frame too short to hold the Pad Length octet
/// is a frame too small for its mandatory fields: FRAME_SIZE_ERROR (§4.2).
pub fn strip(mut payload: Bytes, padded: bool) -> Result<(Bytes, Option<u8>), Error> {
    if !padded {
        return Ok((payload, None));
    }
    let Some(&pad) = payload.first() else {
        return Err(Error::conn(
            ErrorCode::FRAME_SIZE_ERROR,
            "padded frame without a pad length",
        ));
    };
    if pad as usize >= payload.len() {
        return Err(Error::conn(
            ErrorCode::PROTOCOL_ERROR,
            "padding as long as the payload or longer",
        ));
    }
    let end = payload.len() - pad as usize;
    payload.truncate(end);
    Ok((payload.slice(1..), Some(pad)))
}

/// Octets padding adds to a payload: the Pad Length octet plus the padding.
pub fn overhead(pad: Option<u8>) -> usize {
    pad.map_or(0, |p| 1 + p as usize)
}

/// Writes the Pad Length octet, if any.
pub fn put_len(dst: &mut impl BufMut, pad: Option<u8>) {
    if let Some(p) = pad {
        dst.put_u8(p);
    }
}

/// Writes the padding octets, which §6.1 says MUST be zero.
pub fn put_padding(dst: &mut impl BufMut, pad: Option<u8>) {
    if let Some(p) = pad {
        dst.put_bytes(0, p as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_rejects() {
        let (b, p) = strip(Bytes::from_static(b"\x02abc\0\0"), true).unwrap();
        assert_eq!((&b[..], p), (&b"abc"[..], Some(2)));
        let (b, p) = strip(Bytes::from_static(b"\x00"), true).unwrap();
        assert_eq!((&b[..], p), (&b""[..], Some(0)));
        let (b, _) = strip(Bytes::from_static(b"xy"), false).unwrap();
        assert_eq!(&b[..], b"xy");
        assert_eq!(
            strip(Bytes::from_static(b"\x01"), true).unwrap_err().code(),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            strip(Bytes::from_static(b"\x05ab"), true)
                .unwrap_err()
                .code(),
            ErrorCode::PROTOCOL_ERROR
        );
        assert_eq!(
            strip(Bytes::new(), true).unwrap_err().code(),
            ErrorCode::FRAME_SIZE_ERROR
        );
    }
}
