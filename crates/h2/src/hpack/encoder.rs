//! The HPACK encoder (RFC 7541 §6, §7): one per connection, for the field
//! blocks this endpoint sends.
//!
//! How it chooses a representation for each field:
//!
//! 1. Sensitive fields go out as never-indexed literals (§6.2.3, §7.1.3):
//!    `authorization`, `proxy-authorization`, `cookie` values shorter than
//!    [`SHORT_COOKIE`] octets (short ones are guessable), and whatever the
//!    caller marks sensitive.
//! 2. A field equal to a table entry is sent as its index (static first).
//! 3. Otherwise a literal, naming an indexed name when one exists; added to
//!    the dynamic table unless its name is in [`NOT_INDEXED`] (values that
//!    change on almost every message, which would only evict useful entries)
//!    or it would take more than [`MAX_INDEXED_SHARE`] of the table.
//!
//! Strings are Huffman-coded when that is shorter. Table size changes asked
//! for by the peer's SETTINGS_HEADER_TABLE_SIZE are signalled at the start of
//! the next block, the smallest first when it shrank in between (§4.2).

use bytes::{BufMut, Bytes};

use super::table::{entry_size, Table};
use super::{integer, static_table, string};

/// `cookie` values shorter than this are sent never-indexed (§7.1.3).
pub const SHORT_COOKIE: usize = 20;

/// Fields whose values differ on nearly every message: not indexed.
pub const NOT_INDEXED: &[&str] = &[
    ":path",
    "age",
    "content-length",
    "content-range",
    "etag",
    "expires",
    "if-modified-since",
    "if-none-match",
    "last-modified",
    "location",
    "set-cookie",
];

/// A field is not indexed if its entry would exceed `max_size / MAX_INDEXED_SHARE`.
pub const MAX_INDEXED_SHARE: usize = 2;

/// Which fields go into the dynamic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// The policy described in the module documentation.
    Sensible,
    /// Every field that is not sensitive (the choice RFC 7541 Appendix C's
    /// examples make; useful for tests).
    All,
}

/// An HPACK encoder.
#[derive(Debug, Clone)]
pub struct Encoder {
    table: Table,
    /// Upper bound chosen by this side, whatever the peer allows: the memory
    /// a connection spends on its encoder table.
    limit: usize,
    /// Size updates to signal: the smallest size since the last block, and
    /// the final one.
    pending: Option<(usize, usize)>,
    huffman: bool,
    indexing: Indexing,
}

impl Encoder {
    /// An encoder using at most `limit` octets of table, starting at the
    /// protocol default (4096, RFC 9113 §6.5.2) or `limit` if smaller.
    pub fn new(limit: usize) -> Encoder {
        let start = limit.min(4096);
        let mut e = Encoder {
            table: Table::new(4096),
            limit,
            pending: None,
            huffman: true,
            indexing: Indexing::Sensible,
        };
        if start != 4096 {
            e.table.set_max_size(start);
            e.pending = Some((start, start));
        }
        e
    }

    /// Turns Huffman coding on (the default: used when shorter) or off.
    pub fn set_huffman(&mut self, on: bool) {
        self.huffman = on;
    }

    /// Chooses the indexing policy.
    pub fn set_indexing(&mut self, indexing: Indexing) {
        self.indexing = indexing;
    }

    /// The dynamic table (for tests and diagnostics).
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE, capped by this side's
    /// limit. The change is signalled at the start of the next block.
    pub fn set_max_table_size(&mut self, peer: usize) {
        let size = peer.min(self.limit);
        if size == self.table.max_size() && self.pending.is_none() {
            return;
        }
        let min = self.pending.map_or(size, |(m, _)| m.min(size));
        self.pending = Some((min, size));
        self.table.set_max_size(size);
    }

    /// Encodes a whole field block into `dst`. Each field is (name, value,
    /// sensitive); names must already be lowercase (RFC 9113 §8.2.1).
    pub fn encode<'a, I>(&mut self, fields: I, dst: &mut impl BufMut)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8], bool)>,
    {
        // §4.2: size updates lead the block.
        if let Some((min, last)) = self.pending.take() {
            if min != last {
                integer::encode(min, 5, 0x20, dst);
            }
            integer::encode(last, 5, 0x20, dst);
        }
        for (name, value, sensitive) in fields {
            self.field(name, value, sensitive, dst);
        }
    }

    fn field(&mut self, name: &[u8], value: &[u8], sensitive: bool, dst: &mut impl BufMut) {
        let never = sensitive
            || name == b"authorization"
            || name == b"proxy-authorization"
            || (name == b"cookie" && value.len() < SHORT_COOKIE);
        let stat = static_table::find(name, value);
        if !never {
            if let Some((i, true)) = stat {
                integer::encode(i, 7, 0x80, dst);
                return;
            }
        }
        let mut name_idx = stat.map(|(i, _)| i);
        for (i, (n, v)) in self.table.iter().enumerate() {
            if n.as_ref() == name {
                if !never && v.as_ref() == value {
                    integer::encode(static_table::LEN + 1 + i, 7, 0x80, dst);
                    return;
                }
                if name_idx.is_none() {
                    name_idx = Some(static_table::LEN + 1 + i);
                }
            }
        }
        let index = !never
            && match self.indexing {
                Indexing::All => true,
                Indexing::Sensible => {
                    !NOT_INDEXED.iter().any(|n| n.as_bytes() == name)
                        && entry_size(name, value) <= self.table.max_size() / MAX_INDEXED_SHARE
                }
            };
        // §6.2.1 (01, 6-bit prefix), §6.2.2 (0000, 4-bit), §6.2.3 (0001, 4-bit).
        let (prefix, pattern) = if index {
            (6, 0x40)
        } else if never {
            (4, 0x10)
        } else {
            (4, 0x00)
        };
        integer::encode(name_idx.unwrap_or(0), prefix, pattern, dst);
        if name_idx.is_none() {
            string::encode(name, self.huffman, dst);
        }
        string::encode(value, self.huffman, dst);
        if index {
            self.table
                .insert(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value));
        }
    }
}
