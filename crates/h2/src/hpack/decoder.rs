//! The HPACK decoder (RFC 7541 §3, §6): one per connection, fed whole field
//! blocks in order.
//!
//! Bounded on every axis a peer controls: the dynamic table by the
//! SETTINGS_HEADER_TABLE_SIZE this endpoint advertised (§4.2: a size update
//! above it is an error), integers by [`integer::MAX_INT`], strings by the
//! block they sit in, and the decoded list by a header-list size counted as
//! RFC 9113 §6.5.2 does (name + value + 32 per field). Past that size the
//! block is still decoded to the end, because the dynamic table must stay in
//! step with the encoder's (RFC 9113 §4.3), but no more fields are kept and the
//! result says so.

use bytes::Bytes;

use super::table::{Table, ENTRY_OVERHEAD};
use super::{integer, static_table, string, HpackError};

/// One decoded field line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, as sent (HTTP/2 rules on it are checked above HPACK).
    pub name: Bytes,
    /// The value.
    pub value: Bytes,
    /// Sent as "never indexed" (§6.2.3): an intermediary must keep it so.
    pub never_indexed: bool,
}

/// A decoded field block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    /// The fields in order, up to the header-list size limit.
    pub fields: Vec<Field>,
    /// The header-list size of the whole block (RFC 9113 §6.5.2).
    pub list_size: usize,
    /// Whether `list_size` passed the limit, so that `fields` is incomplete.
    pub too_large: bool,
}

/// An HPACK decoder.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: Table,
    /// The SETTINGS_HEADER_TABLE_SIZE advertised: the most a size update may
    /// ask for.
    max_table_size: usize,
    max_list_size: usize,
}

impl Decoder {
    /// A decoder whose table may grow to `max_table_size` (the advertised
    /// SETTINGS_HEADER_TABLE_SIZE, initially 4096 by §6.5.2) and which keeps
    /// at most `max_list_size` of fields per block.
    pub fn new(max_table_size: usize, max_list_size: usize) -> Decoder {
        Decoder {
            table: Table::new(max_table_size),
            max_table_size,
            max_list_size,
        }
    }

    /// The dynamic table (for tests and diagnostics).
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Changes the SETTINGS_HEADER_TABLE_SIZE the decoder holds the peer to,
    /// once the peer has acknowledged it (RFC 9113 §6.5.3). A smaller limit
    /// shrinks the table at once: the peer's encoder must signal a size within
    /// it before using the table again (RFC 7541 §4.2).
    pub fn set_max_table_size(&mut self, n: usize) {
        self.max_table_size = n;
        if self.table.max_size() > n {
            self.table.set_max_size(n);
        }
    }

    /// Changes the header-list size limit.
    pub fn set_max_list_size(&mut self, n: usize) {
        self.max_list_size = n;
    }

    /// Decodes one complete field block.
    pub fn decode(&mut self, block: &Bytes) -> Result<Block, HpackError> {
        let mut out = Block::default();
        let mut pos = 0;
        let mut seen_field = false;
        while pos < block.len() {
            let b = block[pos];
            if b & 0x80 != 0 {
                // §6.1 Indexed Header Field.
                let idx = integer::decode(block, &mut pos, 7)?;
                let (name, value) = self.lookup(idx)?;
                self.emit(&mut out, name, value, false);
            } else if b & 0xc0 == 0x40 {
                // §6.2.1 Literal with Incremental Indexing.
                let (name, value) = self.literal(block, &mut pos, 6)?;
                self.table.insert(name.clone(), value.clone());
                self.emit(&mut out, name, value, false);
            } else if b & 0xe0 == 0x20 {
                // §6.3 Dynamic Table Size Update. §4.2: it "MUST occur at the
                // beginning of the first header block following the change";
                // RFC 7541 allows it nowhere else.
                if seen_field {
                    return Err(HpackError::SizeUpdateNotFirst);
                }
                let size = integer::decode(block, &mut pos, 5)?;
                // §6.3: "The new maximum size MUST be lower than or equal to
                // the limit determined by the protocol using HPACK."
                if size > self.max_table_size {
                    return Err(HpackError::SizeUpdateTooLarge);
                }
                self.table.set_max_size(size);
                continue;
            } else {
                // §6.2.2 without indexing (0000) and §6.2.3 never indexed (0001).
                let never = b & 0x10 != 0;
                let (name, value) = self.literal(block, &mut pos, 4)?;
                self.emit(&mut out, name, value, never);
            }
            seen_field = true;
        }
        Ok(out)
    }

    fn emit(&self, out: &mut Block, name: Bytes, value: Bytes, never_indexed: bool) {
        out.list_size = out
            .list_size
            .saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
        if out.list_size > self.max_list_size {
            out.too_large = true;
            out.fields = Vec::new();
        }
        if !out.too_large {
            out.fields.push(Field {
                name,
                value,
                never_indexed,
            });
        }
    }

    /// A literal's name (indexed or literal) and value.
    fn literal(
        &self,
        block: &Bytes,
        pos: &mut usize,
        prefix: u8,
    ) -> Result<(Bytes, Bytes), HpackError> {
        let idx = integer::decode(block, pos, prefix)?;
        let name = if idx == 0 {
            string::decode(block, pos)?
        } else {
            self.lookup(idx)?.0
        };
        let value = string::decode(block, pos)?;
        Ok((name, value))
    }

    /// Entry `idx` of the combined index space (§2.3.3). §2.3.3: an index
    /// beyond both tables "MUST be treated as a decoding error", as is 0 for
    /// an indexed field (§6.1).
    fn lookup(&self, idx: usize) -> Result<(Bytes, Bytes), HpackError> {
        match idx {
            0 => Err(HpackError::InvalidIndex),
            1..=static_table::LEN => {
                let (n, v) = static_table::STATIC[idx - 1];
                Ok((
                    Bytes::from_static(n.as_bytes()),
                    Bytes::from_static(v.as_bytes()),
                ))
            }
            _ => self
                .table
                .get(idx - static_table::LEN - 1)
                .cloned()
                .ok_or(HpackError::InvalidIndex),
        }
    }
}
