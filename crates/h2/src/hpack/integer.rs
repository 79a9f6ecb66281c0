//! Integer representation with an N-bit prefix (RFC 7541 §5.1).
//!
//! A value that fits in the prefix is stored there; otherwise the prefix is all
//! ones and the rest follows 7 bits at a time, least significant group first,
//! with the high bit of each octet saying whether another follows.

use bytes::BufMut;

use super::HpackError;

/// Largest integer the decoder accepts. §5.1 lets a decoder refuse integers
/// beyond its limits; nothing in HPACK needs more than 32 bits (lengths and
/// indexes are bounded far lower by the block size), and refusing more keeps a
/// run of continuation octets from costing anything.
pub const MAX_INT: u64 = u32::MAX as u64;

/// Continuation octets accepted after the prefix: 5 × 7 bits cover [`MAX_INT`].
const MAX_CONTINUATION: usize = 5;

/// Appends `value` with a `prefix_bits`-bit prefix (1..=8); `high` holds the
/// bits of the first octet above the prefix (the representation's pattern).
pub fn encode(value: usize, prefix_bits: u8, high: u8, dst: &mut impl BufMut) {
    debug_assert!((1..=8).contains(&prefix_bits));
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        dst.put_u8(high | value as u8);
        return;
    }
    dst.put_u8(high | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        dst.put_u8(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

/// Reads an integer with a `prefix_bits`-bit prefix starting at `buf[*pos]`,
/// advancing `pos` past it. A block is decoded whole, so running out of input
/// is an error, not a reason to wait.
pub fn decode(buf: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<usize, HpackError> {
    let max = (1u64 << prefix_bits) - 1;
    let first = *buf.get(*pos).ok_or(HpackError::Truncated)? as u64 & max;
    *pos += 1;
    if first < max {
        return Ok(first as usize);
    }
    let mut value = max;
    for i in 0..MAX_CONTINUATION {
        let b = *buf.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        value += ((b & 0x7f) as u64) << (7 * i);
        if value > MAX_INT {
            return Err(HpackError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok(value as usize);
        }
    }
    Err(HpackError::IntegerOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(v: usize, n: u8) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, n, 0, &mut out);
        out
    }

    #[test]
    fn rfc_7541_c1_examples() {
        // C.1.1: 10 with a 5-bit prefix.
        assert_eq!(enc(10, 5), [0x0a]);
        // C.1.2: 1337 with a 5-bit prefix.
        assert_eq!(enc(1337, 5), [0x1f, 0x9a, 0x0a]);
        // C.1.3: 42 starting at an octet boundary (8-bit prefix).
        assert_eq!(enc(42, 8), [0x2a]);
        let mut pos = 0;
        assert_eq!(decode(&[0xff, 0x9a, 0x0a], &mut pos, 5), Ok(1337));
        assert_eq!(pos, 3);
    }

    #[test]
    fn errors() {
        let mut pos = 0;
        assert_eq!(
            decode(&[0x1f, 0x9a], &mut pos, 5),
            Err(HpackError::Truncated)
        );
        let mut pos = 0;
        assert_eq!(decode(&[], &mut pos, 5), Err(HpackError::Truncated));
        let mut pos = 0;
        let long = [0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_eq!(decode(&long, &mut pos, 8), Err(HpackError::IntegerOverflow));
        let mut pos = 0;
        let big = [0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(decode(&big, &mut pos, 5), Err(HpackError::IntegerOverflow));
        // The largest accepted value decodes.
        let mut pos = 0;
        let v = enc(u32::MAX as usize, 5);
        assert_eq!(decode(&v, &mut pos, 5), Ok(u32::MAX as usize));
    }

    proptest! {
        #[test]
        fn round_trip(v in 0..=u32::MAX as usize, n in 1u8..=8, high in any::<u8>()) {
            let high = if n == 8 { 0 } else { high & !((1u8 << n) - 1) };
            let mut out = Vec::new();
            encode(v, n, high, &mut out);
            prop_assert_eq!(out[0] & !(((1u16 << n) - 1) as u8), high);
            let mut pos = 0;
            prop_assert_eq!(decode(&out, &mut pos, n), Ok(v));
            prop_assert_eq!(pos, out.len());
        }
    }
}
