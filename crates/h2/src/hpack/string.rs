//! String literals (RFC 7541 §5.2): an H bit, a length with a 7-bit prefix,
//! then the octets, Huffman-coded when H is set.

use bytes::{BufMut, Bytes};

use super::{huffman, integer, HpackError};

/// Reads a string literal at `block[*pos]`. A raw literal is a slice of the
/// block (no copy); a Huffman one is decoded into a new buffer.
pub fn decode(block: &Bytes, pos: &mut usize) -> Result<Bytes, HpackError> {
    let huff = block.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer::decode(block, pos, 7)?;
    let end = pos.checked_add(len).ok_or(HpackError::Truncated)?;
    if end > block.len() {
        return Err(HpackError::Truncated);
    }
    let raw = &block[*pos..end];
    let out = if huff {
        let mut v = Vec::new();
        huffman::decode(raw, &mut v)?;
        Bytes::from(v)
    } else {
        block.slice(*pos..end)
    };
    *pos = end;
    Ok(out)
}

/// Appends `s` as a string literal, Huffman-coded when `huffman` allows it and
/// it is no longer than the raw octets (§5.2 leaves the choice to the encoder;
/// on a tie Huffman is chosen, as in RFC 7541 Appendix C.6).
pub fn encode(s: &[u8], use_huffman: bool, dst: &mut impl BufMut) {
    if use_huffman {
        let n = huffman::encoded_len(s);
        if n <= s.len() {
            integer::encode(n, 7, 0x80, dst);
            let mut coded = Vec::with_capacity(n);
            huffman::encode(s, &mut coded);
            dst.put_slice(&coded);
            return;
        }
    }
    integer::encode(s.len(), 7, 0, dst);
    dst.put_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_huffman() {
        let mut out = Vec::new();
        encode(b"custom-key", false, &mut out);
        assert_eq!(out, b"\x0acustom-key");
        let mut out = Vec::new();
        encode(b"custom-key", true, &mut out);
        assert_eq!(out, b"\x88\x25\xa8\x49\xe9\x5b\xa9\x7d\x7f");
        let block = Bytes::from(out);
        let mut pos = 0;
        assert_eq!(&decode(&block, &mut pos).unwrap()[..], b"custom-key");
        assert_eq!(pos, block.len());
        // Huffman is not used when it would not be shorter.
        let mut out = Vec::new();
        encode(b"\x00", true, &mut out);
        assert_eq!(out, b"\x01\x00");
    }

    #[test]
    fn truncated() {
        let block = Bytes::from_static(b"\x05abc");
        assert_eq!(decode(&block, &mut 0), Err(HpackError::Truncated));
        let block = Bytes::from_static(b"");
        assert_eq!(decode(&block, &mut 0), Err(HpackError::Truncated));
    }
}
