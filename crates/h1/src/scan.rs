//! Finding line ends in a head, resumably, while checking every byte.
//!
//! A head line ends at CR LF. Every byte before it must be one a field value may
//! hold (RFC 9110 §5.5), so looking for the line end and validating the line are
//! one pass: we stop at the first byte that is *not* allowed, and it had better
//! be the CR. The scan checks eight bytes per step with SWAR arithmetic and only
//! drops to a byte loop when a word holds something unusual (a control byte, DEL,
//! or an HTAB, which values may contain).
//!
//! [`Lines`] remembers how far it has looked, so a head fed one byte at a time is
//! scanned once in total: O(n), never O(n²).

use osprey_proto::chars::FIELD_VALUE;

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` is below 0x20 or equals 0x7F. Exact for the "any"
/// question: the subtraction trick may flag extra bytes after a true one, never
/// flag a word with none.
#[inline(always)]
fn word_has_ctl(w: u64) -> bool {
    let below_space = w.wrapping_sub(LOW_BITS * 0x20) & !w & HIGH_BITS;
    let del = w ^ (LOW_BITS * 0x7f);
    let is_del = del.wrapping_sub(LOW_BITS) & !del & HIGH_BITS;
    (below_space | is_del) != 0
}

/// Index of the first byte at or after `from` that may not appear in a field
/// value (anything but HTAB below 0x20, or DEL), or `None` if there is none.
#[inline]
pub(crate) fn find_ctl(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= buf.len() {
        let word = u64::from_le_bytes(buf[i..i + 8].try_into().expect("8-byte slice"));
        if word_has_ctl(word) {
            for (j, &b) in buf[i..i + 8].iter().enumerate() {
                if !FIELD_VALUE[b as usize] {
                    return Some(i + j);
                }
            }
            // Only HTABs in this word: fine, carry on.
        }
        i += 8;
    }
    buf[i..]
        .iter()
        .position(|&b| !FIELD_VALUE[b as usize])
        .map(|j| i + j)
}

/// Why a line could not be delimited, and the offset of the offending byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineError {
    /// A CR followed by something other than LF.
    BareCr(usize),
    /// An LF without CR before it.
    BareLf(usize),
    /// Another byte a head line may not contain.
    Control(usize),
}

impl LineError {
    /// Offset of the offending byte. Callers check their size limits against
    /// the bytes before it first, so that the error reported does not depend on
    /// whether the bad byte arrived in the same read as the bytes before it.
    pub(crate) fn at(self) -> usize {
        match self {
            LineError::BareCr(i) | LineError::BareLf(i) | LineError::Control(i) => i,
        }
    }
}

/// Index of the first byte at or after `from` that `table` does not allow, or
/// `None` if the buffer ends first. Eight lookups are and-ed per branch; the
/// byte loop then finds the culprit within its word.
#[inline(always)]
pub(crate) fn find_not_in(buf: &[u8], from: usize, table: &[bool; 256]) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = buf.get(i..i + 8) {
        if !chunk.iter().fold(true, |ok, &b| ok & table[b as usize]) {
            break;
        }
        i += 8;
    }
    buf.get(i..)?
        .iter()
        .position(|&b| !table[b as usize])
        .map(|j| i + j)
}

/// A resumable line splitter over a buffer that only ever grows at the end.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lines {
    /// Start of the line being looked for.
    pub(crate) pos: usize,
    /// How many bytes after `pos` are known to hold no terminator.
    pub(crate) scanned: usize,
    /// Bytes examined over this splitter's life: the O(n) claim, made checkable.
    pub(crate) examined: usize,
}

impl Lines {
    /// The next complete line as `(start, end)` without its CR LF, advancing past
    /// the terminator; `Ok(None)` when the buffer ends inside the line.
    #[inline]
    pub(crate) fn next(&mut self, buf: &[u8]) -> Result<Option<(usize, usize)>, LineError> {
        let start = self.pos;
        let from = start + self.scanned;
        let found = find_ctl(buf, from);
        self.examined += found.map_or(buf.len(), |i| i + 1) - from;
        match found {
            None => {
                self.scanned = buf.len() - start;
                Ok(None)
            }
            Some(i) => match buf[i] {
                b'\r' => match buf.get(i + 1) {
                    Some(b'\n') => {
                        self.pos = i + 2;
                        self.scanned = 0;
                        Ok(Some((start, i)))
                    }
                    Some(_) => Err(LineError::BareCr(i)),
                    None => {
                        // Wait for the LF; everything before the CR is checked.
                        self.scanned = i - start;
                        Ok(None)
                    }
                },
                b'\n' => Err(LineError::BareLf(i)),
                _ => Err(LineError::Control(i)),
            },
        }
    }

    /// Bytes of the current, incomplete line seen so far.
    /// Starts over at offset 0, keeping the work counter.
    pub(crate) fn restart(&mut self) {
        self.pos = 0;
        self.scanned = 0;
    }

    pub(crate) fn partial_len(&self, buf: &[u8]) -> usize {
        buf.len() - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar_agrees_with_table_for_every_byte_and_position() {
        for b in 0..=255u8 {
            for pos in 0..20 {
                let mut buf = vec![b'a'; 20];
                buf[pos] = b;
                let expect = (!FIELD_VALUE[b as usize]).then_some(pos);
                assert_eq!(find_ctl(&buf, 0), expect, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn lines_resume_byte_by_byte() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut lines = Lines::default();
        let mut found = vec![];
        for end in 1..=input.len() {
            while let Some((s, e)) = lines.next(&input[..end]).unwrap() {
                found.push(&input[s..e]);
            }
        }
        assert_eq!(found, [&b"GET / HTTP/1.1"[..], b"Host: a", b""]);
    }

    #[test]
    fn line_errors() {
        assert_eq!(Lines::default().next(b"a\rb"), Err(LineError::BareCr(1)));
        assert_eq!(Lines::default().next(b"a\nb"), Err(LineError::BareLf(1)));
        assert_eq!(
            Lines::default().next(b"a\0b\r\n"),
            Err(LineError::Control(1))
        );
        assert_eq!(Lines::default().next(b"a\tb\r\n"), Ok(Some((0, 3))));
        assert_eq!(Lines::default().next(b"ab\r"), Ok(None));
    }
}
