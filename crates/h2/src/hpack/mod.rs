//! HPACK, the field compression of HTTP/2 (RFC 7541).
//!
//! Pieces, bottom up: [`integer`] (§5.1 prefixed integers), `huffman` (§5.2,
//! Appendix B), `string` (§5.2 literals), `static_table` (Appendix A),
//! `table` (§4 dynamic table), then [`Decoder`] and [`Encoder`] (§6).
//!
//! Every decoding error is a COMPRESSION_ERROR connection error in HTTP/2
//! (RFC 9113 §4.3): once a block fails, the two tables can no longer be
//! trusted to agree.

use std::fmt;

mod decoder;
mod encoder;
mod huffman;
pub mod integer;
mod static_table;
mod string;
mod table;

pub use decoder::{Block, Decoder, Field};
pub use encoder::{Encoder, Indexing, MAX_INDEXED_SHARE, NOT_INDEXED, SHORT_COOKIE};
pub use table::{entry_size, Table, ENTRY_OVERHEAD};

use crate::error::{Error, ErrorCode};

/// Why a field block could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ended inside a representation.
    Truncated,
    /// An integer above [`integer::MAX_INT`] (§5.1: beyond our limits).
    IntegerOverflow,
    /// Index 0, or beyond the static and dynamic tables (§2.3.3, §6.1).
    InvalidIndex,
    /// A Huffman string containing EOS (§5.2).
    HuffmanEos,
    /// Huffman padding longer than 7 bits or not all ones (§5.2).
    HuffmanPadding,
    /// A Huffman code that decodes to nothing (cannot happen with the RFC's
    /// complete code; kept as a guard).
    InvalidHuffman,
    /// A table size update above SETTINGS_HEADER_TABLE_SIZE (§6.3).
    SizeUpdateTooLarge,
    /// A table size update after the first field of a block (§4.2).
    SizeUpdateNotFirst,
}

impl HpackError {
    /// A short description.
    pub fn reason(self) -> &'static str {
        match self {
            HpackError::Truncated => "HPACK block truncated",
            HpackError::IntegerOverflow => "HPACK integer too large",
            HpackError::InvalidIndex => "HPACK index out of range",
            HpackError::HuffmanEos => "HPACK Huffman string contains EOS",
            HpackError::HuffmanPadding => "HPACK Huffman padding invalid",
            HpackError::InvalidHuffman => "HPACK Huffman code invalid",
            HpackError::SizeUpdateTooLarge => "HPACK table size update above the limit",
            HpackError::SizeUpdateNotFirst => "HPACK table size update after a field",
        }
    }
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for HpackError {}

impl From<HpackError> for Error {
    /// RFC 9113 §4.3: "A decoding error in a field block MUST be treated as a
    /// connection error of type COMPRESSION_ERROR."
    fn from(e: HpackError) -> Error {
        Error::conn(ErrorCode::COMPRESSION_ERROR, e.reason())
    }
}

#[cfg(test)]
mod tests;
