//! Incremental UTF-8 validation for text messages (RFC 6455 §5.6, §8.1).
//!
//! A text message arrives in frames, and each frame in pieces, split anywhere,
//! also inside a code point. The validator keeps the at most three bytes of an
//! unfinished code point between pieces and reports invalid input as soon as
//! no continuation could make it valid: an overlong form, a surrogate or a
//! value above U+10FFFF is refused at its first wrong byte, not at the end of
//! the message (the Autobahn cases 6.4.x check this "fail fast").
//!
//! The work is done by `std::str::from_utf8`, whose error tells apart "invalid
//! here" (`error_len() == Some(_)`) from "input ended inside a code point that
//! is still a valid prefix" (`None`).

/// Validates a byte stream as UTF-8, piece by piece.
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    /// The bytes of an unfinished code point (at most three).
    partial: [u8; 4],
    partial_len: u8,
}

/// The input is not UTF-8, whatever follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

/// How many bytes the code point starting with `lead` takes (1 for a byte
/// that cannot start one: the caller's check then fails on it).
fn width(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Validates the next piece. On success, returns how many bytes at the
    /// end of `input` belong to a code point not finished yet (the rest, with
    /// what was kept from earlier pieces, is whole characters).
    pub fn feed(&mut self, mut input: &[u8]) -> Result<usize, InvalidUtf8> {
        // Finish the code point left open by the previous piece, byte by byte.
        if self.partial_len > 0 {
            let need = width(self.partial[0]);
            while (self.partial_len as usize) < need {
                let Some((&b, rest)) = input.split_first() else {
                    return Ok(0);
                };
                self.partial[self.partial_len as usize] = b;
                self.partial_len += 1;
                input = rest;
                match std::str::from_utf8(&self.partial[..self.partial_len as usize]) {
                    Ok(_) => break,
                    Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                    Err(_) => {}
                }
            }
            self.partial_len = 0;
        }
        match std::str::from_utf8(input) {
            Ok(_) => Ok(0),
            Err(e) => match e.error_len() {
                Some(_) => Err(InvalidUtf8),
                None => {
                    let tail = &input[e.valid_up_to()..];
                    self.partial[..tail.len()].copy_from_slice(tail);
                    self.partial_len = tail.len() as u8;
                    Ok(tail.len())
                }
            },
        }
    }

    /// How many bytes of an unfinished code point are held from earlier pieces.
    pub fn pending(&self) -> usize {
        self.partial_len as usize
    }

    /// The bytes of the unfinished code point held from earlier pieces.
    pub fn pending_bytes(&self) -> &[u8] {
        &self.partial[..self.partial_len as usize]
    }

    /// The message ended: valid only if no code point is left unfinished.
    /// Resets the validator for the next message either way.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let open = self.partial_len != 0;
        self.partial_len = 0;
        if open {
            Err(InvalidUtf8)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` one byte at a time; the index of the first byte after
    /// which the validator failed, or `None`.
    fn fails_at(bytes: &[u8]) -> Option<usize> {
        let mut v = Utf8Validator::new();
        for (i, b) in bytes.iter().enumerate() {
            if v.feed(std::slice::from_ref(b)).is_err() {
                return Some(i);
            }
        }
        v.finish().err().map(|_| bytes.len())
    }

    #[test]
    fn valid_text_in_any_split() {
        let text = "κόσμε – ascii – 𝄞 – \u{10FFFF} – \u{FFFF} – \u{80}".as_bytes();
        for cut in 0..=text.len() {
            for cut2 in cut..=text.len() {
                let mut v = Utf8Validator::new();
                v.feed(&text[..cut]).unwrap();
                v.feed(&text[cut..cut2]).unwrap();
                v.feed(&text[cut2..]).unwrap();
                v.finish().unwrap();
            }
        }
        assert_eq!(fails_at(text), None);
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        // Overlong forms: C0/C1 can never start a character; E0 80..9F and
        // F0 80..8F are overlong at the second byte.
        assert_eq!(fails_at(b"a\xc0\xaf"), Some(1));
        assert_eq!(fails_at(b"\xc1\xbf"), Some(0));
        assert_eq!(fails_at(b"\xe0\x80\xaf"), Some(1));
        assert_eq!(fails_at(b"\xf0\x80\x80\xaf"), Some(1));
        // Surrogates U+D800..U+DFFF: ED A0..BF.
        assert_eq!(fails_at(b"\xed\xa0\x80"), Some(1));
        assert_eq!(fails_at(b"\xed\xbf\xbf"), Some(1));
        // Above U+10FFFF: F4 90.., F5..FF.
        assert_eq!(fails_at(b"\xf4\x90\x80\x80"), Some(1));
        assert_eq!(fails_at(b"\xf5\x80\x80\x80"), Some(0));
        assert_eq!(fails_at(b"\xff"), Some(0));
        // A lone continuation byte, a lead byte cut short by ASCII.
        assert_eq!(fails_at(b"ab\x80"), Some(2));
        assert_eq!(fails_at(b"\xe2\x82a"), Some(2));
        // Truncated at the end of the message: only the end can tell.
        assert_eq!(fails_at(b"\xe2\x82"), Some(2));
        // The Autobahn 6.4.1 payload: "κόσμε" then F4 90 80 80 fails at F4 90.
        let mut p = "κόσμε".as_bytes().to_vec();
        p.extend_from_slice(b"\xf4\x90\x80\x80edited");
        assert_eq!(fails_at(&p), Some("κόσμε".len() + 1));
    }

    #[test]
    fn reports_the_unfinished_tail() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ab\xf0\x9d"), Ok(2));
        assert_eq!(v.pending_bytes(), b"\xf0\x9d");
        assert_eq!(v.feed(b"\x84"), Ok(0));
        assert_eq!(v.pending(), 3);
        assert_eq!(v.feed(b"\x9ecd"), Ok(0));
        assert_eq!(v.pending(), 0);
        v.finish().unwrap();
    }

    #[test]
    fn a_whole_chunk_is_checked_at_once() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"hello \xed\xa0\x80 world").is_err());
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed("héllo".as_bytes()), Ok(0));
    }
}
